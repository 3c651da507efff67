"""The client side of a segmentation_node in another process: publish test images, collect every
output by header stamp (tests and bench/ scripts talk to the node through this)."""

import time
import uuid
from typing import Callable, Dict, Iterable, Tuple

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from swiftnet_ros.msg import SegmentationInfo
from swiftnet_ros.ros.image_conversion import fill_image

OUTPUTS = {"labels": ("segmentation/labels", Image), "color": ("segmentation/color", Image),
           "overlay": ("segmentation/overlay", Image), "info": ("segmentation", SegmentationInfo)}


def qos(reliable: bool, depth: int = 10) -> QoSProfile:
    reliability = QoSReliabilityPolicy.RELIABLE if reliable else QoSReliabilityPolicy.BEST_EFFORT
    return QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability,
                      durability=QoSDurabilityPolicy.VOLATILE)


def stamp(index: int) -> Tuple[int, int]:
    """A distinct header stamp (sec, nanosec) per frame index."""
    return 1000 + index, 123456 * (index % 1000)


class RosClient:
    """The sending side: publishes to ``<ns>/image`` and collects the outputs keyed by header stamp."""

    def __init__(self, namespace: str, reliable_input: bool = False, depth: int = 10) -> None:
        self.namespace = namespace
        self.node = rclpy.create_node("test_client_" + uuid.uuid4().hex[:8], namespace=namespace)
        self.image_pub = self.node.create_publisher(Image, "image", qos(reliable_input, depth))
        self.compressed_pub = self.node.create_publisher(CompressedImage, "image/compressed",
                                                         qos(reliable_input, depth))
        self.received = {kind: {} for kind in OUTPUTS}  # type: Dict[str, Dict[Tuple[int, int], object]]
        self.arrival = {}  # type: Dict[Tuple[int, int], float]
        for kind, (topic, msg_type) in OUTPUTS.items():
            self.node.create_subscription(msg_type, topic, self._collector(kind), qos(True, 50))
        self.diagnostics = []  # type: list
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _collector(self, kind: str) -> Callable[[object], None]:
        def collect(msg: object) -> None:
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            self.received[kind][key] = msg
            if kind == "info":
                self.arrival[key] = time.monotonic()
        return collect

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith(self.namespace + "/"):
                values = {kv.key: kv.value for kv in status.values}
                values.update(name=status.name, level=status.level, message=status.message)
                self.diagnostics.append(values)

    def spin_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            rclpy.spin_once(self.node, timeout_sec=0.02)
        return predicate()

    def wait_connected(self, compressed: bool = False, timeout: float = 60.0) -> None:
        pub = self.compressed_pub if compressed else self.image_pub
        topics = [self.namespace + "/" + topic for topic, _ in OUTPUTS.values()]
        ok = self.spin_until(lambda: pub.get_subscription_count() > 0
                             and all(self.node.count_publishers(t) > 0 for t in topics), timeout)
        if not ok:
            raise TimeoutError("the node's topics under {} did not connect within {} s".format(
                self.namespace, timeout))

    def image_msg(self, fields: Dict[str, object], index: int, frame_id: str = "camera") -> Image:
        msg = fill_image(Image(), fields)
        msg.header.stamp = Time(sec=stamp(index)[0], nanosec=stamp(index)[1])
        msg.header.frame_id = frame_id
        return msg

    def publish(self, msg: object) -> None:
        (self.compressed_pub if isinstance(msg, CompressedImage) else self.image_pub).publish(msg)

    def answered(self, index: int, kinds: Iterable[str] = ("labels", "info")) -> bool:
        return all(stamp(index) in self.received[kind] for kind in kinds)

    def send_and_wait(self, msg: object, index: int, kinds: Iterable[str] = ("labels", "info"),
                      timeout: float = 30.0, resend_after: float = 3.0) -> Dict[str, object]:
        """Publish and wait until every output in ``kinds`` for this frame's stamp has arrived.

        Best-effort input may lose a message (typically the first after matching): it is sent again
        every ``resend_after`` seconds, with the same stamp, until answered.
        """
        kinds = tuple(kinds)
        deadline = time.monotonic() + timeout
        ok = False
        while not ok and time.monotonic() < deadline:
            self.publish(msg)
            wait = min(resend_after, deadline - time.monotonic())
            ok = self.spin_until(lambda: self.answered(index, kinds), wait)
        if not ok:
            raise TimeoutError("frame {} not answered on {} within {} s (got {})".format(
                index, kinds, timeout, [k for k in kinds if stamp(index) in self.received[k]]))
        return {kind: self.received[kind][stamp(index)] for kind in kinds}

    def latest_diagnostics(self, timeout: float = 5.0) -> Dict[str, str]:
        count = len(self.diagnostics)
        arrived = self.spin_until(lambda: len(self.diagnostics) > count, timeout)
        if not arrived:
            raise TimeoutError("no /diagnostics from the node within {} s".format(timeout))
        return self.diagnostics[-1]

    def close(self) -> None:
        self.node.destroy_node()


def sample_image(seed: int, height: int = 64, width: int = 128) -> np.ndarray:
    """A synthetic road scene (RGB uint8) to send."""
    from swiftnet_ros.data.synthetic import make_scene

    return make_scene(seed, (height, width))[0]
