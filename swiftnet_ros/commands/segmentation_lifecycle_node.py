"""``segmentation_lifecycle_node``: the managed node executable (``swiftnet_ros.ros.lifecycle_node``).

Run: ``segmentation_lifecycle_node --ros-args -p weights:=mnv2``, then
``ros2 lifecycle set /segmentation_node configure`` and ``... activate``.
On the Jetson run-time path: Python 3.6 clean. rclpy has a lifecycle API from ROS 2 Humble on; with
an older rclpy this says so in one line (exit 1).
"""

import sys
from typing import List, Optional

from swiftnet_ros.commands.segmentation_node import leave, run_node


def main(argv: Optional[List[str]] = None) -> int:
    """``run`` the managed node, then leave at once (see ``segmentation_node.leave``)."""
    try:
        from swiftnet_ros.ros.lifecycle_node import run
    except ImportError as exc:
        if "lifecycle" not in str(exc):
            raise
        sys.stderr.write("segmentation_lifecycle_node: error: this rclpy has no lifecycle API ({}); it "
                         "exists from ROS 2 Humble on: run segmentation_node instead\n".format(exc))
        return leave(1)
    return leave(run_node(run, argv, "segmentation_lifecycle_node"))


if __name__ == "__main__":
    sys.exit(main())
