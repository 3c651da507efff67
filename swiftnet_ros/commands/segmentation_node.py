"""``segmentation_node``: the node executable (ROS arguments only; parameters: ``swiftnet_ros.ros.params``).

Run: ``segmentation_node --ros-args -p weights:=mnv2 -p input_size:=1024x512`` or
``python -m swiftnet_ros.commands.segmentation_node --ros-args --params-file config/segment.yaml``.
On the Jetson run-time path: Python 3.6 clean.
"""

import os
import sys
from typing import List, Optional

from swiftnet_ros.ros.node import run


def main(argv: Optional[List[str]] = None) -> int:
    """``run`` the node, then ``leave``."""
    return leave(run(argv))


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
