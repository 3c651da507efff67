"""``segmentation_node``: the node executable (ROS arguments only; parameters: ``swiftnet_ros.ros.params``).

Run: ``segmentation_node --ros-args -p weights:=mnv2 -p input_size:=1024x512`` or
``python -m swiftnet_ros.commands.segmentation_node --ros-args --params-file config/segment.yaml``.
On the Jetson run-time path: Python 3.6 clean.
"""

import os
import re
import sys
from typing import Callable, List, Optional

USAGE = ("usage: {} [--ros-args -p NAME:=VALUE ... | --params-file FILE ...]\n"
         "The node takes ROS arguments only; its parameters: `ros2 param describe`, config/segment.yaml and "
         "the README's parameter table. Sizes are WIDTHxHEIGHT strings: -p \"input_size:='1024x512'\".\n")


def main(argv: Optional[List[str]] = None) -> int:
    """``run`` the node, then ``leave``."""
    from swiftnet_ros.ros.node import run

    return leave(run_node(run, argv, "segmentation_node"))


def run_node(run: Callable[[Optional[List[str]]], int], argv: Optional[List[str]], name: str) -> int:
    """``run(argv)`` after checking the arguments: ``--help`` prints the usage (0); a non-ROS argument
    or ROS arguments that rclpy refuses (a malformed ``-p``, a missing ``--params-file``) are one line
    ``NAME: error: ...`` and exit 2, as for the swiftnet-ros commands."""
    from rclpy.utilities import remove_ros_args

    args = list(sys.argv if argv is None else argv)
    try:
        others = remove_ros_args(args)[1:]
        if any(a in ("-h", "--help") for a in others):
            sys.stdout.write(USAGE.format(name))
            return 0
        if others:
            sys.stderr.write("{}: error: unexpected argument(s) {}: expected ROS arguments only, e.g. "
                             "--ros-args -p weights:=mnv2 -p input_size:=1024x512\n".format(
                                 name, " ".join(map(repr, others))))
            return 2
        return run(args)
    except Exception as exc:  # raised before the node exists: rcl refused the ROS arguments
        if os.environ.get("SWIFTNET_ROS_DEBUG"):
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)
        text = re.sub(r",? at [^,]*\.c:\d+", "", " ".join(str(exc).split()))
        if text.startswith(("failed to initialize rcl", "Failed to parse ROS arguments")):
            sys.stderr.write("{}: error: bad ROS arguments ({}); expected --ros-args -p NAME:=VALUE or "
                             "--params-file FILE\n".format(name, text.split(": ", 1)[-1]))
            return 2
        sys.stderr.write("{}: error: {}: {} (SWIFTNET_ROS_DEBUG=1 shows the traceback)\n".format(
            name, type(exc).__name__, text))
        return 1


def leave(code: int) -> int:
    """End the process at once with ``code`` (the managed node's executable ends the same way).

    The interpreter's own teardown (PyTorch, Fast DDS) takes more than a second after the node has
    already shut down cleanly (ROS logs flushed by try_shutdown), so the process ends with os._exit
    and SIGINT / SIGTERM stop the node well within 2 s.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
    return code  # not reached


if __name__ == "__main__":
    sys.exit(main())
