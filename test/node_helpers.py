"""Helpers for tests that run segmentation_node as a separate OS process and talk to it over real DDS.

``NodeProcess`` starts ``python -m swiftnet_ros.ros.node --ros-args ...`` in its own namespace;
``RosClient`` is the test's own rclpy node: it publishes images and collects every output topic
by header stamp, plus the node's /diagnostics.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from typing import Callable, Dict, Iterable, Iterator, Optional, Tuple

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from swiftnet_ros.msg import SegmentationInfo

from swiftnet_ros.ros.demo import stop_process
from swiftnet_ros.ros.image_conversion import fill_image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUTS = {"labels": ("segmentation/labels", Image), "color": ("segmentation/color", Image),
           "overlay": ("segmentation/overlay", Image), "info": ("segmentation", SegmentationInfo)}

# A small random-weight model that any CPU runs in a fraction of a second per 64x128 frame.
FAST_MODEL = {"weights": "mnv2", "backend": "torch", "warmup": 0}


def unique_namespace(prefix: str = "t") -> str:
    return "/{}_{}".format(prefix, uuid.uuid4().hex[:8])


def ros_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_DOMAIN = {"id": None}  # type: Dict[str, Optional[int]]


def ros_init() -> int:
    """rclpy.init on a DDS domain of its own (1..100), which node processes started afterwards share.

    Other test runs on the machine then cannot slow discovery down or answer our topics.
    """
    domain = 1 + uuid.uuid4().int % 100
    _DOMAIN["id"] = domain
    rclpy.init(domain_id=domain)
    return domain


def node_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    env.setdefault("OMP_NUM_THREADS", "2")
    if _DOMAIN["id"] is not None:
        env["ROS_DOMAIN_ID"] = str(_DOMAIN["id"])
    return env


class NodeProcess:
    """segmentation_node in a child process; its stdout and stderr go to a temporary log file."""

    def __init__(self, namespace: str, params: Optional[Dict[str, object]] = None,
                 extra_ros_args: Iterable[str] = ()) -> None:
        self.namespace = namespace
        cmd = [sys.executable, "-m", "swiftnet_ros.ros.node", "--ros-args", "-r", "__ns:=" + namespace]
        for name, value in (params or {}).items():
            cmd += ["-p", "{}:={}".format(name, ros_value(value))]
        cmd += list(extra_ros_args)
        self.command = cmd
        self._log = tempfile.NamedTemporaryFile(prefix="segmentation_node_", suffix=".log", delete=False)
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=node_env(), cwd=REPO)

    def output(self) -> str:
        with open(self._log.name, errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait for the node's 'ready' log line; fail with its output if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready:" in self.output():
                return
            if self.proc.poll() is not None:
                raise AssertionError("node exited with {} before it was ready:\n{}".format(
                    self.proc.returncode, self.output()))
            time.sleep(0.1)
        raise AssertionError("node not ready after {} s:\n{}".format(timeout, self.output()))

    def wait_exit(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> Tuple[int, float]:
        """Send ``sig``; (exit code, seconds until the process was gone)."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("node still running {} s after signal {}:\n{}".format(
                timeout, sig, self.output())) from None
        return code, time.monotonic() - start

    def close(self) -> None:
        stop_process(self.proc, timeout=5.0)  # SIGINT first: a killed node leaves Fast DDS state behind
        self._log.close()
        os.unlink(self._log.name)

    def __enter__(self) -> "NodeProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def qos(reliable: bool, depth: int = 10) -> QoSProfile:
    reliability = QoSReliabilityPolicy.RELIABLE if reliable else QoSReliabilityPolicy.BEST_EFFORT
    return QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability,
                      durability=QoSDurabilityPolicy.VOLATILE)


def stamp(index: int) -> Tuple[int, int]:
    """A distinct header stamp (sec, nanosec) per test frame."""
    return 1000 + index, 123456 * (index % 1000)


class RosClient:
    """The test side: publishes to ``<ns>/image`` and collects the outputs keyed by header stamp."""

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
        assert ok, "the node's topics under {} did not connect within {} s".format(self.namespace, timeout)

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
        assert ok, "frame {} not answered on {} within {} s (got {})".format(
            index, kinds, timeout, [k for k in kinds if stamp(index) in self.received[k]])
        return {kind: self.received[kind][stamp(index)] for kind in kinds}

    def latest_diagnostics(self, timeout: float = 5.0) -> Dict[str, str]:
        count = len(self.diagnostics)
        arrived = self.spin_until(lambda: len(self.diagnostics) > count, timeout)
        assert arrived, "no /diagnostics from the node"
        return self.diagnostics[-1]

    def close(self) -> None:
        self.node.destroy_node()


@contextmanager
def running_node(namespace: str, params: Dict[str, object], reliable_input: bool = False, depth: int = 10,
                 compressed: bool = False) -> Iterator["RosClient"]:
    """A started, ready node and a client connected to it (``client.node_process`` is the node)."""
    with NodeProcess(namespace, params) as node:
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


def sample_image(seed: int, height: int = 64, width: int = 128) -> np.ndarray:
    """A synthetic road scene when the data package has one, else smooth random colours."""
    try:
        from swiftnet_ros.data.synthetic import make_scene

        return make_scene(seed, (height, width))[0]
    except ImportError:
        rng = np.random.default_rng(seed)
        small = rng.integers(0, 256, size=(height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
        return np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)[:height, :width].copy()


def process_figures(pid: int) -> Dict[str, float]:
    """Resident memory (MiB), threads and open file descriptors of a process, from /proc."""
    figures = {"fds": float(len(os.listdir("/proc/{}/fd".format(pid))))}
    with open("/proc/{}/status".format(pid)) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                figures["rss_mib"] = int(line.split()[1]) / 1024.0
            elif line.startswith("Threads:"):
                figures["threads"] = float(line.split()[1])
    return figures
