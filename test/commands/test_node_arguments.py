"""Both node executables: --help, a stray argument and ROS arguments that rcl refuses are handled before
the node starts: usage (0) or one line and exit 2, no traceback."""

import subprocess
import sys

import pytest

from swiftnet_ros.tools.processes import ros_env

EXECUTABLES = ("swiftnet_ros.commands.segmentation_node", "swiftnet_ros.commands.segmentation_lifecycle_node")


def _run(module, args):
    return subprocess.run([sys.executable, "-m", module] + args, capture_output=True, text=True, timeout=120,
                          env=ros_env())


@pytest.mark.parametrize("module", EXECUTABLES)
@pytest.mark.parametrize("args, text", [
    (["foo"], "unexpected argument(s) 'foo': expected ROS arguments only"),
    (["--ros-args", "-p", "badarg"], "bad ROS arguments (Couldn't parse parameter override rule"),
    (["--ros-args", "--params-file", "/nonexistent/segment.yaml"], "Couldn't parse params file"),
])
def test_bad_arguments_are_one_line_and_exit_2(module, args, text):
    proc = _run(module, args)
    name = module.rsplit(".", 1)[1]
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(name + ": error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert text in proc.stderr and ".c:" not in proc.stderr


def test_help_prints_the_usage():
    proc = _run(EXECUTABLES[0], ["--help"])
    assert proc.returncode == 0 and proc.stdout.startswith("usage: segmentation_node [--ros-args")
