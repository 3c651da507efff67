"""segmentation_lifecycle_node: the segmentation node as a managed (lifecycle) node.

Same node name, parameters and topics as ``segmentation_node`` (the work is ``node.SegmentationCore``);
a lifecycle manager or ``ros2 lifecycle set /segmentation_node <transition>`` drives it:

- unconfigured at start (any parameter may be set; they are read at configure);
- ``configure`` checks the parameters and loads the model (a TensorRT engine build happens here);
  a failure (bad weights, bad value) is logged with its reason and the node stays unconfigured;
- ``activate`` creates the topics and answers frames; ``deactivate`` removes them (nothing is
  processed or published); ``cleanup`` frees the model; ``shutdown`` from any state ends the process.

rclpy.lifecycle exists from ROS 2 Humble on; Foxy and Galactic have only the plain node.
"""

import sys
from typing import Any, List, Optional

import rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from swiftnet_ros.ros.node import (
    SegmentationCore,
    _fatal,
    _install_sigterm_handler,
    _load_in_background,
    _one_line,
    spin,
)
from swiftnet_ros.ros.params import NODE_NAME, ConfigError

SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE


class SegmentationLifecycleNode(SegmentationCore, LifecycleNode):
    """The managed segmentation node (see the module docstring)."""

    def __init__(self, **node_kwargs: Any) -> None:
        LifecycleNode.__init__(self, NODE_NAME, **node_kwargs)
        self._setup()
        self._startup_changes = True
        self.finalized = False
        self.get_logger().info("unconfigured: waiting for configure (ros2 lifecycle set {} configure)".format(
            self.get_fully_qualified_name()))

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.read_parameters()
            failure = _load_in_background(self)  # SIGINT / SIGTERM still stop the node while it loads
        except ConfigError as exc:
            failure = exc
        if failure is not None:
            self.release_model()
            self.get_logger().error("configure failed: {}; still unconfigured".format(_one_line(failure)))
            return FAILURE
        self._startup_changes = False
        self.get_logger().info("configured: {}".format(self.segmenter.describe()))
        return SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.start()
        return SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.close()
        self.get_logger().info("inactive: topics removed, frames are not processed")
        return SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release_model()
        self._startup_changes = True
        self.get_logger().info("unconfigured: model freed")
        return SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.close()
        self.release_model()
        self.finalized = True
        self.get_logger().info("finalized (shutdown from {})".format(state.label))
        return SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.close()
        self.release_model()
        self._startup_changes = True
        self.get_logger().error("error in {}: back to unconfigured".format(state.label))
        return SUCCESS


def run(argv: Optional[List[str]] = None) -> int:
    """Run the managed node until shutdown (the transition) or SIGINT / SIGTERM: 0; 2 for bad -p values."""
    rclpy.init(args=sys.argv if argv is None else argv)
    _install_sigterm_handler()
    try:
        node = SegmentationLifecycleNode()
    except Exception as exc:
        return _fatal(exc)
    spin(node, done=lambda: node.finalized)
    return 0
