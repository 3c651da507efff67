"""Publish a rosbag2 through rclpy, as ``ros2 bag play`` does for our needs (``swiftnet-ros play-bag``).

``ros2 bag`` (rosbag2_py) is not installable from PyPI. This player reads the bag with ``rosbags`` and
publishes each message's recorded CDR bytes unchanged (rclpy raw publishing), so header stamps and
frame ids are the recorded ones, at the recorded pacing scaled by a rate factor.
"""

import importlib
import math
import os
import re
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, TextIO

import yaml

from swiftnet_ros.tools import bags

QOS_CHOICES = ("reliable", "best_effort")
UNKNOWN_NODE_NAME = "_NODE_NAME_UNKNOWN_"  # rmw's name for an endpoint whose node is not discovered yet
_NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_remaps(items: Optional[Sequence[str]]) -> Dict[str, str]:
    """``["OLD:=NEW", ...]`` -> {OLD: NEW}."""
    remaps = {}
    for item in items or ():
        old, sep, new = item.partition(":=")
        if not sep or not old or not new:
            raise ValueError("bad topic remap {!r}: expected OLD:=NEW, e.g. /camera/image_raw:=/image"
                             .format(item))
        remaps[old] = new
    return remaps


def message_class(msgtype: str) -> Any:
    """``"sensor_msgs/msg/Image"`` -> the rclpy message class."""
    package, _, name = msgtype.rpartition("/")
    try:
        return getattr(importlib.import_module(package.replace("/", ".")), name)
    except (ImportError, AttributeError):
        raise ValueError("message type {!r} is not installed for rclpy: cannot publish it"
                         .format(msgtype)) from None


def qos_profile(kind: str, depth: int) -> Any:
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    if kind not in QOS_CHOICES:
        raise ValueError("bad qos {!r}: expected one of {}".format(kind, ", ".join(QOS_CHOICES)))
    reliability = ReliabilityPolicy.RELIABLE if kind == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability,
                      durability=DurabilityPolicy.VOLATILE)


class _Stop(Exception):
    """SIGTERM turned into an exception, handled like Ctrl-C."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop()


class AnswerGate:
    """Closed-loop pacing: at most ``max_in_flight`` published frames without an answer on ``topic``.

    An answer is a message on ``topic`` with a published frame's header stamp (the segmentation node
    copies the input header to its outputs). Gated, the player never outruns the processing, so a
    demo loses no frame however loaded the machine is; a frame unanswered after ``timeout`` seconds
    is counted and given up.
    """

    def __init__(self, node: Any, topic: str, max_in_flight: int = 1, timeout: float = 30.0) -> None:
        if not topic.startswith("/"):
            raise ValueError("answer topic {!r} must be absolute (start with /)".format(topic))
        if max_in_flight < 1:
            raise ValueError("bad max in flight {}: expected at least 1".format(max_in_flight))
        self.node = node
        self.topic = topic
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.in_flight: Dict[int, float] = {}  # header stamp -> when it was published (monotonic s)
        self.answered = 0
        self.unanswered = 0

    def connect(self, wait_timeout: float) -> None:
        """Subscribe (raw CDR) once the answer topic, and so its type, shows up in the ROS graph."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        deadline = time.monotonic() + wait_timeout
        while True:
            types = dict(self.node.get_topic_names_and_types()).get(self.topic)
            if types:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("answer topic {} did not appear within {:g} s".format(
                    self.topic, wait_timeout))
            time.sleep(0.05)
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        cls = message_class(types[0])
        sub = self.node.create_subscription(cls, self.topic, self._on_answer, qos, raw=True)
        # an answer published before the answering side has matched this subscription would be lost
        while hasattr(sub, "get_publisher_count") and sub.get_publisher_count() < 1:
            if time.monotonic() > deadline:
                raise TimeoutError("no publisher of answer topic {} matched within {:g} s".format(
                    self.topic, wait_timeout))
            time.sleep(0.05)
        for info in self._answering_publishers(deadline):
            self._await_match_by(info.node_namespace, info.node_name, deadline)

    def _answering_publishers(self, deadline: float) -> List[Any]:
        """The answer topic's publishers once their nodes are known: the graph learns an endpoint's node
        from its participant's discovery data a moment (~0.1 s) after the endpoint itself, and a query in
        between names the node _NODE_NAME_UNKNOWN_ (whose parameter service never shows up)."""
        while True:
            infos = self.node.get_publishers_info_by_topic(self.topic)
            if all(i.node_name != UNKNOWN_NODE_NAME for i in infos) or time.monotonic() > deadline:
                return infos
            time.sleep(0.02)

    def _await_match_by(self, namespace: str, name: str, deadline: float) -> None:
        """Wait until the answering node has matched our subscription too, not only we its publisher.

        Our side matches the node's publisher at once, but the node matches our subscription only when
        its discovery thread has read our announcement (milliseconds, far more on a loaded CPU), and an
        answer it publishes before that is not sent to us (volatile): the first frame would then wait
        out the answer timeout. A reply to a parameter service call from that node shows it has read
        the announcement of our service client's reply subscription, which we created after the answer
        subscription, and a node reads the announcements of our subscriptions in order.
        """
        import rclpy
        from rcl_interfaces.srv import GetParameters

        service = "{}/{}/get_parameters".format(namespace.rstrip("/"), name)
        client = self.node.create_client(GetParameters, service)
        try:
            available_by = min(deadline, time.monotonic() + 10.0)
            while not client.wait_for_service(timeout_sec=0.1):
                if time.monotonic() > available_by:
                    self.node.get_logger().warning(
                        "cannot confirm that {} has matched our subscription to {} (no service {}): "
                        "the first answer may be lost".format(name, self.topic, service))
                    return
            reply_by = min(deadline, time.monotonic() + 15.0)
            while True:
                future = client.call_async(GetParameters.Request())
                rclpy.spin_until_future_complete(self.node, future, timeout_sec=1.0)
                if future.done():
                    return
                if hasattr(client, "remove_pending_request"):  # not in Foxy
                    client.remove_pending_request(future)
                if time.monotonic() > reply_by:
                    # a slow or stalled discovery must not stop the playback: go on, as without a service
                    self.node.get_logger().warning(
                        "{} gave no reply on {} within {:.0f} s: the first answer may be lost".format(
                            name, service, 15.0))
                    return
        finally:
            self.node.destroy_client(client)

    def _on_answer(self, data: bytes) -> None:
        if self.in_flight.pop(bags.header_stamp_ns(data), None) is not None:
            self.answered += 1

    def sent(self, stamp: int) -> None:
        self.in_flight[stamp] = time.monotonic()

    def spin(self, seconds: float) -> None:
        """Take answers for up to ``seconds``, then give up on frames older than the timeout."""
        import rclpy

        rclpy.spin_once(self.node, timeout_sec=max(0.0, seconds))
        for _ in range(len(self.in_flight)):  # answers already waiting count, however late we look
            rclpy.spin_once(self.node, timeout_sec=0.0)
        now = time.monotonic()
        for stamp, sent_at in list(self.in_flight.items()):
            if now - sent_at > self.timeout:
                del self.in_flight[stamp]
                self.unanswered += 1
                message = "no answer on {} for the frame stamped {}.{:09d} within {:g} s".format(
                    self.topic, stamp // 10 ** 9, stamp % 10 ** 9, self.timeout)
                self.node.get_logger().warning(message)

    def wait_below(self, limit: int) -> None:
        """Spin until fewer than ``limit`` frames wait for an answer."""
        while len(self.in_flight) >= limit:
            self.spin(0.05)


class BagPlayer:
    """Publishers for a bag's topics and the paced publishing loop."""

    def __init__(self, node: Any, bag: str, topics: Optional[List[str]], remaps: Dict[str, str],
                 qos: Any, clock: bool = False) -> None:
        self.node = node
        self.bag = bag
        types = check_playable(bag, PlayOptions(topics=topics, remaps=remaps))
        self.topics = list(types)
        self.publishers = {}
        self.has_header = {}
        for topic in self.topics:
            cls = message_class(types[topic])
            self.publishers[topic] = node.create_publisher(cls, remaps.get(topic, topic), qos)
            fields = list(cls.get_fields_and_field_types().items())
            self.has_header[topic] = bool(fields) and fields[0] == ("header", "std_msgs/Header")
        self.clock_publisher = None
        if clock:
            from rosgraph_msgs.msg import Clock

            self.clock_publisher = node.create_publisher(Clock, "/clock", 10)
        self.published = 0
        self.gate: Optional[AnswerGate] = None

    def wait_for_subscribers(self, count: int, timeout: float) -> None:
        """Block until every publisher has ``count`` subscribers (discovery takes a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            short = {self.publishers[t].topic_name: self.publishers[t].get_subscription_count()
                     for t in self.topics if self.publishers[t].get_subscription_count() < count}
            if not short:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("waited {:g} s for {} subscriber(s) per topic; have {}"
                                   .format(timeout, count, short))
            time.sleep(0.05)

    def _sleep_until(self, when: float) -> None:
        while True:
            left = when - time.monotonic()
            if left <= 0:
                return
            if self.gate is not None:
                self.gate.spin(min(left, 0.05))  # answers keep arriving while we wait
            else:
                time.sleep(left)

    def play_once(self, rate: float, log: Optional[TextIO] = None) -> float:
        """Publish every message once at the recorded pacing divided by ``rate``.

        With an answer gate, a frame also waits for a free slot, and the schedule moves on from
        there (no burst to catch up). Returns the mean wall time between messages, the pause a loop
        leaves before starting again.
        """
        start_wall = None
        first_ns = last_ns = count = 0
        shift = 0.0
        for message in bags.iter_messages(self.bag, self.topics):
            count += 1
            last_ns = message.timestamp
            if start_wall is None:
                start_wall, first_ns = time.monotonic(), message.timestamp
            stamp = bags.header_stamp_ns(message.data) if self.has_header[message.topic] else -1
            gated = self.gate is not None and stamp >= 0
            if gated:
                self.gate.wait_below(self.gate.max_in_flight)
            target = start_wall + shift + (message.timestamp - first_ns) / 1e9 / rate
            late = time.monotonic() - target
            if gated and late > 0:  # the answer came after the recorded time: go on from now, no burst
                shift += late
                target += late
            self._sleep_until(target)
            if self.clock_publisher is not None:
                self._publish_clock(message.timestamp)
            wall_ns = int(time.time() * 1e9)
            self.publishers[message.topic].publish(message.data)
            if gated:
                self.gate.sent(stamp)
            self.published += 1
            if log is not None:
                name = self.publishers[message.topic].topic_name
                log.write("{},{},{},{}\n".format(name, message.timestamp, stamp, wall_ns))
        return (last_ns - first_ns) / 1e9 / rate / max(1, count - 1)

    def _publish_clock(self, ns: int) -> None:
        from rosgraph_msgs.msg import Clock

        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = ns // 10 ** 9, ns % 10 ** 9
        self.clock_publisher.publish(msg)

    def wait_for_acks(self, timeout: float) -> bool:
        """Reliable publishers: wait until subscribers acknowledged everything (or timeout)."""
        from rclpy.duration import Duration

        deadline = time.monotonic() + timeout
        done = True
        for pub in self.publishers.values():
            left = max(0.0, deadline - time.monotonic())
            done = pub.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9))) and done
        return done



@dataclass
class PlayOptions:
    """How to play a bag (the ``play-bag`` flags)."""

    rate: float = 1.0
    loop: bool = False
    topics: Optional[List[str]] = None
    remaps: Dict[str, str] = field(default_factory=dict)
    qos: str = "reliable"
    depth: int = 10
    wait_for_subscribers: int = 0
    wait_timeout: float = 60.0
    start_delay: float = 0.0
    clock: bool = False
    publish_log: Optional[str] = None
    answer_topic: Optional[str] = None
    max_in_flight: int = 1
    answer_timeout: float = 30.0
    node_name: str = "swiftnet_bag_player"

    def check(self) -> None:
        """Raise ValueError naming the first bad option (the bag is checked by ``check_playable``)."""
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError("bad rate {}: expected a positive speed factor".format(self.rate))
        if self.depth < 1:
            raise ValueError("bad depth {}: expected at least 1".format(self.depth))
        if self.qos not in QOS_CHOICES:
            raise ValueError("bad qos {!r}: expected one of {}".format(self.qos, ", ".join(QOS_CHOICES)))
        for name, value, low in (("wait for subscribers", self.wait_for_subscribers, 0),
                                 ("max in flight", self.max_in_flight, 1)):
            if value < low:
                raise ValueError("bad {} {}: expected at least {}".format(name, value, low))
        for name, value, zero_ok in (("wait timeout", self.wait_timeout, False),
                                     ("answer timeout", self.answer_timeout, False),
                                     ("start delay", self.start_delay, True)):
            if not (math.isfinite(value) and (value >= 0 if zero_ok else value > 0)):
                raise ValueError("bad {} {}: expected a {} number of seconds".format(
                    name, value, "non-negative" if zero_ok else "positive"))
        if not _NODE_NAME.match(self.node_name):
            raise ValueError("bad node name {!r}: expected letters, digits and _, not starting with a digit"
                             .format(self.node_name))
        if self.answer_topic is not None:
            bags.check_topic(self.answer_topic, "answer topic")
        for new in self.remaps.values():
            bags.check_topic(new if new.startswith("/") else "/" + new, "remap target")
        if self.publish_log is not None:
            folder = os.path.dirname(os.path.abspath(self.publish_log))
            if os.path.isdir(self.publish_log) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
                raise ValueError("publish log {!r}: expected a file in an existing, writable folder"
                                 .format(self.publish_log))


def check_playable(bag: str, options: PlayOptions) -> Dict[str, str]:
    """Everything ``play`` needs of the bag and the options, before ROS starts: a ValueError /
    FileNotFoundError naming the bad value (a usage error); the played topics' types by name."""
    options.check()
    try:
        metadata = bags.bag_metadata(bag)
        types = {t["topic_metadata"]["name"]: t["topic_metadata"]["type"]
                 for t in metadata["topics_with_message_count"]}
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError("bag {}: unreadable metadata.yaml ({}): expected a rosbag2 bag".format(
            bag, " ".join(str(exc).split()))) from None
    topics = list(options.topics) if options.topics else sorted(types)
    missing = [t for t in topics if t not in types]
    if missing:
        raise ValueError("topics {} not in bag {}: it has {}".format(missing, bag, sorted(types)))
    unknown = sorted(set(options.remaps) - set(topics))
    if unknown:
        raise ValueError("remapped topics {} are not played: played are {}".format(unknown, topics))
    played = {topic: types[topic] for topic in topics}
    for msgtype in sorted(set(played.values())):
        message_class(msgtype)
    return played


@dataclass
class PlayResult:
    """What a playback did: messages published, answers (with an answer topic), stopped by a signal."""

    published: int = 0
    answered: int = 0
    unanswered: int = 0
    stopped: bool = False
    all_acked: bool = True


def play(bag: str, options: PlayOptions) -> PlayResult:
    """Play ``bag`` in a ROS node of this process until done, or until Ctrl-C / SIGTERM (``stopped``).

    Raises ValueError / FileNotFoundError for a bag, topic or option that cannot be played (before ROS
    starts: ``check_playable``) and TimeoutError when subscribers or the answer topic do not show up
    within ``options.wait_timeout``.
    """
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    check_playable(bag, options)  # a bad bag or option fails here, before ROS starts
    # Our own handlers: Ctrl-C (KeyboardInterrupt) and SIGTERM (_Stop) end the loop cleanly.
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    node = None
    log = None
    player = None
    result = PlayResult()
    try:
        node = rclpy.create_node(options.node_name)
        player = BagPlayer(node, bag, options.topics, options.remaps, qos_profile(options.qos, options.depth),
                           options.clock)
        log = open(options.publish_log, "w") if options.publish_log else None
        if options.wait_for_subscribers > 0:
            player.wait_for_subscribers(options.wait_for_subscribers, options.wait_timeout)
        if options.answer_topic:
            player.gate = AnswerGate(node, options.answer_topic, options.max_in_flight,
                                     options.answer_timeout)
            player.gate.connect(options.wait_timeout)
        if options.start_delay > 0:
            time.sleep(options.start_delay)
        while True:
            period = player.play_once(options.rate, log)
            if not options.loop:
                break
            time.sleep(period)
        if player.gate is not None:
            player.gate.wait_below(1)
        if options.qos == "reliable":
            result.all_acked = player.wait_for_acks(5.0)
            if not result.all_acked:
                node.get_logger().warning("not every message was acknowledged within 5 s")
    except (KeyboardInterrupt, _Stop):
        result.stopped = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        if player is not None:
            result.published = player.published
            if player.gate is not None:
                result.answered, result.unanswered = player.gate.answered, player.gate.unanswered
        if log is not None:
            log.close()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return result
