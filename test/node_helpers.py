"""Helpers for tests that run segmentation_node as a separate OS process and talk to it over real DDS.

The process and client helpers are the package's own (``swiftnet_ros.tools.processes``,
``swiftnet_ros.tools.node_client``), shared with the demo and the bench/ scripts; test/conftest.py
gives this test process a DDS domain of its own and localhost-only discovery, which the node
processes inherit.
"""

import os
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterable, Iterator, List

import numpy as np
import rclpy
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from swiftnet_ros.tools.node_client import OUTPUTS, RosClient, sample_image, stamp  # noqa: F401
from swiftnet_ros.tools.processes import NodeProcess, process_figures, unique_namespace  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A small random-weight model that any CPU runs in a fraction of a second per 64x128 frame.
FAST_MODEL = {"weights": "mnv2", "backend": "torch", "warmup": 0}


def ros_init() -> int:
    """rclpy.init on this test process's own DDS domain (set by conftest), which node processes share."""
    rclpy.init()
    return int(os.environ["ROS_DOMAIN_ID"])


@contextmanager
def running_node(namespace: str, params: Dict[str, object], reliable_input: bool = False, depth: int = 10,
                 compressed: bool = False) -> Iterator[RosClient]:
    """A started, ready node and a client connected to it (``client.node_process`` is the node)."""
    with NodeProcess(namespace, params, cwd=REPO) as node:
        node.wait_ready()
        client = RosClient(namespace, reliable_input=reliable_input, depth=depth)
        try:
            client.wait_connected(compressed=compressed)
            client.node_process = node
            yield client
        finally:
            client.close()


def image_array(msg: Image) -> np.ndarray:
    """A received mono8 / rgb8 Image as (H, W) or (H, W, 3) uint8."""
    channels = {"mono8": 1, "rgb8": 3}[msg.encoding]
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    pixels = rows[:, :msg.width * channels].reshape(msg.height, msg.width, channels)
    return pixels[:, :, 0] if channels == 1 else pixels


def set_parameters(client: RosClient, **values: object) -> list:
    """Set parameters of the client's node through its set_parameters service; the results."""
    service = client.node.create_client(SetParameters, client.namespace + "/segmentation_node/set_parameters")
    assert service.wait_for_service(timeout_sec=10)
    request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()
                                                for name, value in values.items()])
    future = service.call_async(request)
    assert client.spin_until(future.done, 10)
    client.node.destroy_client(service)
    return future.result().results


def send_with_camera_info(client: RosClient, info_pub: Any, infos: List[Any], msg: Image, index: int,
                          kinds: Iterable[str], done: Callable[[Dict[str, Any]], bool] = lambda answer: True,
                          timeout: float = 30.0) -> Dict[str, Any]:
    """Publish the camera_info messages, then the image, until the image's ``kinds`` arrived and
    ``done(answer)`` holds. The node subscribes camera_info best effort (as it does images: that
    matches any camera driver), so a message sent as discovery completes may be lost: send again."""
    kinds = tuple(kinds)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for info in infos:
            info_pub.publish(info)
        client.spin_until(lambda: False, 0.05)
        client.image_pub.publish(msg)
        if client.spin_until(lambda: client.answered(index, kinds) and done(
                {kind: client.received[kind][stamp(index)] for kind in kinds}), 2.0):
            return {kind: client.received[kind][stamp(index)] for kind in kinds}
    raise TimeoutError("frame {} with camera_info not answered on {} within {} s".format(
        index, kinds, timeout))
