"""The test files `make test-jetson-stack` runs on the Jetson TX2's stack (Python 3.6, PyTorch 1.10).

They are the run-time path's test folders, less the modules whose top-level imports need what the
stack lacks: rclpy and the ROS 2 message packages (ROS 2 on a TX2 runs in a container that brings
its own), the bag library, hypothesis. A module is left out only when importing one of its imports
raises ModuleNotFoundError for one of those; any other error keeps it in, so that pytest reports it.
Tests inside a collected module that need the modern stack carry the ``modern_stack`` marker, which
the target deselects. Run with the stack's Python: prints one path per line, and each module left
out to stderr with the import that keeps it out.
"""

import ast
import importlib
import os
import sys
from typing import List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIME_TESTS = ("test/model", "test/infer", "test/ros", "test/data/test_labels.py",
                 "test/data/test_synthetic.py", "test/jetson")
NOT_ON_THE_STACK = ("rclpy", "rosidl_runtime_py", "builtin_interfaces", "std_msgs", "sensor_msgs",
                    "diagnostic_msgs", "vision_msgs", "lifecycle_msgs", "rcl_interfaces", "launch",
                    "launch_ros", "launch_testing", "rosbags", "hypothesis", "onnxscript")


def module_imports(path: str) -> List[str]:
    """Modules imported by the top-level statements of ``path`` (absolute imports only)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def missing_import(path: str) -> Optional[str]:
    """'module (needs X)' for the first import of ``path`` that needs what the stack lacks, or None."""
    sys.path.insert(0, os.path.dirname(path))  # test helper modules next to the test, as pytest does
    try:
        for name in module_imports(path):
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as error:
                missing = (error.name or "").split(".")[0]
                if missing in NOT_ON_THE_STACK:
                    return name if name.split(".")[0] == missing else "{} (needs {})".format(name, missing)
            except Exception:  # noqa: BLE001 - pytest reports it when it collects the module
                continue
    finally:
        sys.path.pop(0)
    return None


def test_files(root: str = ROOT) -> Tuple[List[str], List[Tuple[str, str]]]:
    """(collected, left_out): repository-relative paths; left_out pairs a path with its import."""
    candidates = []
    for entry in RUNTIME_TESTS:
        path = os.path.join(root, entry)
        if os.path.isfile(path):
            candidates.append(entry)
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            candidates.extend(os.path.relpath(os.path.join(folder, name), root) for name in sorted(files)
                              if name.startswith("test_") and name.endswith(".py"))
    collected, left_out = [], []
    for rel in candidates:
        reason = missing_import(os.path.join(root, rel))
        if reason is None:
            collected.append(rel)
        else:
            left_out.append((rel, reason))
    return collected, left_out


def main() -> int:
    collected, left_out = test_files()
    for rel, reason in left_out:
        sys.stderr.write("jetson stack: not collecting {}: imports {}\n".format(rel, reason))
    if not collected:
        sys.stderr.write("jetson stack: no test files under {}\n".format(", ".join(RUNTIME_TESTS)))
        return 1
    print("\n".join(collected))
    return 0


if __name__ == "__main__":
    sys.exit(main())
