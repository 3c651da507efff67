"""The package's layering (docs/architecture.md), checked on the import graph of the sources.

Every import counts, also those inside functions: a lazy import is still a dependency. Rules:
``model`` imports nothing from infer/ros/train/tools/commands (the label tables of ``data`` it may);
``data`` nothing above it; ``infer``
nothing from ros/train/tools/commands; ``ros`` nothing from train/tools/commands; nothing imports
``commands`` but ``commands`` itself; no module cycle.
"""

import ast
import os
from typing import Dict, List, Set

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "swiftnet_ros"

# layer -> the layers it must not import
FORBIDDEN = {
    "model": {"infer", "ros", "train", "tools", "commands"},
    "data": {"model", "infer", "ros", "train", "tools", "commands"},
    "infer": {"ros", "train", "tools", "commands"},
    "ros": {"train", "tools", "commands"},
    "train": {"ros", "tools", "commands"},
    "tools": {"commands"},
}


def _module_name(path: str, root: str) -> str:
    rel = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def _imports(path: str, module: str, modules: Set[str]) -> Set[str]:
    """The swiftnet_ros modules that ``module`` imports anywhere in its file (relative ones resolved).

    ``from swiftnet_ros.infer import visualize`` imports the module ``infer.visualize``;
    ``from swiftnet_ros.infer import Segmenter`` imports the package ``infer`` (its __init__).
    """
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package_parts = module.split(".") if path.endswith("__init__.py") else module.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package_parts[:len(package_parts) - node.level + 1])
                target = base + ("." + node.module if node.module else "")
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = target + "." + alias.name
                found.add(submodule if submodule in modules else target)
    return {name for name in found if name in modules and name != module}


def _graph(root: str = REPO) -> Dict[str, Set[str]]:
    paths = {}
    for folder, _, files in os.walk(os.path.join(root, PACKAGE)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                paths[_module_name(path, root)] = path
    return {module: _imports(path, module, set(paths)) for module, path in paths.items()}


GRAPH = _graph()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_is_read():
    assert "swiftnet_ros.ros.node" in GRAPH and "swiftnet_ros.infer.segmenter" in GRAPH
    assert any(target.startswith("swiftnet_ros.infer") for target in GRAPH["swiftnet_ros.ros.node"])


def layering_violations(graph: Dict[str, Set[str]], layer: str) -> List[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        if _layer(module) != layer:
            continue
        for target in sorted(targets):
            if _layer(target) in FORBIDDEN[layer]:
                bad.append("{} imports {}".format(module, target))
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_below_it(layer):
    bad = layering_violations(GRAPH, layer)
    assert not bad, "layering broken:\n" + "\n".join(bad)


def test_only_commands_import_commands():
    bad = ["{} imports {}".format(m, t) for m, targets in sorted(GRAPH.items()) for t in sorted(targets)
           if _layer(t) == "commands" and _layer(m) != "commands"]
    assert not bad, "\n".join(bad)


def import_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Depth-first search over the graph; a back edge is a cycle, reported as its modules."""
    state = {}  # type: Dict[str, int]
    stack = []  # type: List[str]
    cycles = []  # type: List[List[str]]

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


def test_no_import_cycle():
    cycles = import_cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checks_find_lazy_imports_and_cycles(tmp_path):
    """On a small made-up package: an import inside a function breaks the layering and closes a cycle."""
    package = tmp_path / PACKAGE
    for folder in ("model", "infer"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "model" / "net.py").write_text(
        "def build():\n    from swiftnet_ros.infer.run import go\n    return go\n")
    (package / "infer" / "run.py").write_text("from swiftnet_ros.model import net\n\ngo = 1\n")
    graph = _graph(str(tmp_path))
    assert graph["swiftnet_ros.model.net"] == {"swiftnet_ros.infer.run"}
    assert layering_violations(graph, "model") == ["swiftnet_ros.model.net imports swiftnet_ros.infer.run"]
    assert layering_violations(graph, "infer") == []
    assert import_cycles(graph) == [["swiftnet_ros.infer.run", "swiftnet_ros.model.net",
                                     "swiftnet_ros.infer.run"]]
