"""``segmentation_lifecycle_node``: the managed node executable (``swiftnet_ros.ros.lifecycle_node``).

Run: ``segmentation_lifecycle_node --ros-args -p weights:=mnv2``, then
``ros2 lifecycle set /segmentation_node configure`` and ``... activate``.
On the Jetson run-time path: Python 3.6 clean.
"""

import sys
from typing import List, Optional

from swiftnet_ros.commands.segmentation_node import leave
from swiftnet_ros.ros.lifecycle_node import run


def main(argv: Optional[List[str]] = None) -> int:
    """``run`` the managed node, then leave at once (see ``segmentation_node.leave``)."""
    return leave(run(argv))


if __name__ == "__main__":
    sys.exit(main())
