"""launch/segment.launch.py and config/segment.yaml, checked statically.

``launch`` / ``launch_ros`` are not installable here, so the launch file is parsed (ast) rather
than run; test/test_segment_launch.py runs it on a ROS 2 install, and test/test_bag_playback.py runs
the same scenario here with separate processes.
"""

import ast
import os
import re
import xml.etree.ElementTree as ET

import pytest
import yaml

from swiftnet_ros.ros import params

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCH = os.path.join(ROOT, "launch", "segment.launch.py")
CONFIG = os.path.join(ROOT, "config", "segment.yaml")
pytestmark = pytest.mark.modern_stack  # ast.unparse (Python 3.9); the launch file is not the run-time path
ARGUMENTS = {"config", "weights", "backend", "precision", "image_topic", "namespace", "use_sim_time",
             "managed"}


@pytest.fixture(scope="module")
def tree():
    with open(LAUNCH) as f:
        return ast.parse(f.read(), LAUNCH)


def _constants(tree):
    """Module-level NAME = <literal> assignments."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return found


def _calls(tree, name):
    def called(node):
        func = node.func
        return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)

    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and called(n) == name]


def _value(node, constants):
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    return ast.literal_eval(node)


def _keyword(call, name):
    matches = [k.value for k in call.keywords if k.arg == name]
    assert matches, "{}(...) has no {}=".format(ast.unparse(call.func), name)
    return matches[0]


def _used_arguments(tree):
    """Names read with LaunchConfiguration(...), also in loops and comprehensions over a constant tuple."""
    constants = _constants(tree)
    loop_values = {}
    loops = [(n.target, n.iter, n) for n in ast.walk(tree) if isinstance(n, ast.For)]
    comprehensions = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    loops += [(g.target, g.iter, n) for n in ast.walk(tree) if isinstance(n, comprehensions)
              for g in n.generators]
    for target, iterable, body in loops:
        if isinstance(target, ast.Name) and isinstance(iterable, ast.Name) and iterable.id in constants:
            for call in _calls(body, "LaunchConfiguration"):
                if isinstance(call.args[0], ast.Name) and call.args[0].id == target.id:
                    loop_values[id(call)] = list(constants[iterable.id])
    used = []
    for call in _calls(tree, "LaunchConfiguration"):
        used.extend(loop_values.get(id(call)) or [ast.literal_eval(call.args[0])])
    return used


def _config_section(document):
    """The params file section the node reads: its name, '/**/name' or '/**' (as params.load_yaml does)."""
    keys = [k for k in document if str(k).strip("/").split("/")[-1] in (params.NODE_NAME, "**")]
    assert len(keys) == 1, list(document)
    return document[keys[0]]["ros__parameters"]


def _package_name():
    return ET.parse(os.path.join(ROOT, "package.xml")).getroot().findtext("name")


def test_node_action_starts_our_executable(tree):
    constants = _constants(tree)
    nodes = _calls(tree, "Node")
    assert len(nodes) == 1
    node = nodes[0]
    assert _value(_keyword(node, "package"), constants) == _package_name() == "swiftnet_ros"
    chosen = _keyword(node, "executable")  # managed:=true picks the lifecycle node
    assert ast.unparse(chosen) == "LIFECYCLE_EXECUTABLE if managed else EXECUTABLE"
    executables = [_value(chosen.body, constants), _value(chosen.orelse, constants)]
    assert executables == ["segmentation_lifecycle_node", "segmentation_node"]
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        cmake = f.read()
    with open(os.path.join(ROOT, "setup.py")) as f:
        setup = f.read()
    for executable in executables:
        # `ros2 run` finds lib/<package>/<executable>: CMake installs scripts/<executable> there ...
        assert re.search(r"install\(PROGRAMS [^)]*scripts/{}\b[^)]*DESTINATION lib/\$\{{PROJECT_NAME\}}\)"
                         .format(executable), cmake), executable
        script = os.path.join(ROOT, "scripts", executable)
        assert os.access(script, os.X_OK)
        assert "from swiftnet_ros.commands.{} import main".format(executable) in open(script).read()
        # ... and pip installs the console script of the same name.
        entry = r'"{0} = swiftnet_ros\.commands\.{0}:main"'.format(executable)
        assert re.search(entry, setup), executable


def test_node_name_matches_the_config_section(tree):
    constants = _constants(tree)
    name = _value(_keyword(_calls(tree, "Node")[0], "name"), constants)
    assert name == params.NODE_NAME
    with open(CONFIG) as f:
        sections = list(yaml.safe_load(f))
    assert [str(k).strip("/").split("/")[-1] for k in sections] == [name]


def test_launch_arguments_are_declared_described_and_used(tree):
    declared = {}
    for call in _calls(tree, "DeclareLaunchArgument"):
        declared[ast.literal_eval(call.args[0])] = call
        assert ast.literal_eval(_keyword(call, "description"))
        _keyword(call, "default_value")
    assert set(declared) == ARGUMENTS
    assert set(_used_arguments(tree)) == ARGUMENTS
    assert ast.literal_eval(_keyword(declared["image_topic"], "default_value")) == "/camera/image_raw"
    assert ast.literal_eval(_keyword(declared["use_sim_time"], "default_value")) == "false"


def test_config_default_is_the_installed_segment_yaml(tree):
    config = [c for c in _calls(tree, "DeclareLaunchArgument") if ast.literal_eval(c.args[0]) == "config"][0]
    default = _keyword(config, "default_value")
    assert ast.unparse(default) == "os.path.join(share, 'config', 'segment.yaml')"
    assert "share = get_package_share_directory(PACKAGE)" in ast.unparse(tree)
    assert os.path.isfile(CONFIG)
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        pattern = r"install\(DIRECTORY launch config demo DESTINATION share/\$\{PROJECT_NAME\}\)"
        assert re.search(pattern, f.read())


def test_image_topic_remaps_both_inputs(tree):
    node = _calls(tree, "Node")[0]
    remaps = _keyword(node, "remappings")
    pairs = [(ast.literal_eval(t.elts[0]), ast.unparse(t.elts[1])) for t in remaps.elts]
    assert pairs == [("image", "image_topic"), ("image/compressed", "image_topic + '/compressed'"),
                     ("camera_info", "camera_info_topic(image_topic)")]
    source = ast.unparse(tree)
    assert "image_topic = LaunchConfiguration('image_topic').perform(context).rstrip('/')" in source


def test_overrides_and_parameters_are_node_parameters(tree):
    constants = _constants(tree)
    overrides = constants["OVERRIDES"]
    assert set(overrides) == {"weights", "backend", "precision"}
    assert set(overrides) <= set(params.parameter_names())
    assert set(constants["NODE_ARGUMENTS"]) == set(overrides) | {"use_sim_time"}
    node = _calls(tree, "Node")[0]
    assert ast.unparse(_keyword(node, "parameters")) == "[config, overrides]"
    assert ast.unparse(_keyword(node, "namespace")) == "LaunchConfiguration('namespace')"


def test_every_config_key_is_declared_by_the_node():
    with open(CONFIG) as f:
        section = _config_section(yaml.safe_load(f))
    assert set(section) <= set(params.parameter_names()), set(section) - set(params.parameter_names())
    config = params.load_yaml(CONFIG)  # validates every value, too
    for key, value in section.items():
        assert getattr(config, key) == value


def test_launch_file_defines_generate_launch_description(tree):
    compile(ast.unparse(tree), LAUNCH, "exec")
    names = [f.name for f in tree.body if isinstance(f, ast.FunctionDef)]
    assert "generate_launch_description" in names
    function = [f for f in tree.body if getattr(f, "name", None) == "generate_launch_description"][0]
    returns = [n for n in ast.walk(function) if isinstance(n, ast.Return)]
    assert returns and isinstance(returns[0].value, ast.Call)
    assert ast.unparse(returns[0].value.func) == "LaunchDescription"
    assert [ast.unparse(c.func) for c in _calls(tree, "OpaqueFunction")] == ["OpaqueFunction"]


@pytest.fixture(scope="module")
def node_overrides(tree):
    """launch's node_overrides (plain Python) compiled on its own: launch itself is not importable here."""
    wanted = {"_parse_bool", "node_overrides"}
    module = ast.Module(body=[n for n in tree.body if getattr(n, "name", None) in wanted], type_ignores=[])
    namespace = {"os": os, "Any": object, "Dict": dict, "OVERRIDES": _constants(tree)["OVERRIDES"]}
    exec(compile(module, LAUNCH, "exec"), namespace)
    return namespace["node_overrides"]


def test_node_overrides_keep_the_config_unless_given(node_overrides, tmp_path):
    share = tmp_path / "share"
    (share / "demo").mkdir(parents=True)
    (share / "demo" / "swiftnet_demo.pt").write_bytes(b"weights")
    # empty launch arguments leave the config file's values alone
    assert node_overrides({"weights": "", "backend": " ", "precision": "", "use_sim_time": "false"},
                          str(share)) == {"use_sim_time": False}
    # "demo" names the node's bundled checkpoint, not the share/demo folder
    assert node_overrides({"weights": "demo", "use_sim_time": "true"}, str(share)) == {
        "weights": "demo", "use_sim_time": True}
    # a file in the share directory becomes its absolute path; other values pass through
    assert node_overrides({"weights": "demo/swiftnet_demo.pt", "backend": "tensorrt", "precision": "fp16"},
                          str(share)) == {"weights": str(share / "demo" / "swiftnet_demo.pt"),
                                          "backend": "tensorrt", "precision": "fp16", "use_sim_time": False}
    assert node_overrides({"weights": "/abs/model.onnx"}, str(share))["weights"] == "/abs/model.onnx"
    with pytest.raises(ValueError, match="launch argument use_sim_time:='maybe': expected true or false"):
        node_overrides({"use_sim_time": "maybe"}, str(share))


def test_camera_info_is_the_image_topics_sibling(tree):
    function = [n for n in tree.body if getattr(n, "name", None) == "camera_info_topic"]
    namespace = {}
    exec(compile(ast.Module(body=function, type_ignores=[]), LAUNCH, "exec"), namespace)
    sibling = namespace["camera_info_topic"]
    assert sibling("/camera/image_raw") == "/camera/camera_info"
    assert sibling("/front/left/image_rect") == "/front/left/camera_info"
    assert sibling("/image") == "/camera_info"
    assert sibling("image_raw") == "camera_info"
