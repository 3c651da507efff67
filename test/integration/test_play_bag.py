"""``swiftnet-ros play-bag`` as a separate OS process, received here with real rclpy and Fast DDS."""

import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from swiftnet_ros.tools import bags, processes

rclpy = pytest.importorskip("rclpy")
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

FRAMES = 6
RATE = 10.0  # recorded frames per second


def _scenes(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8), rng.integers(0, 19, (24, 40), dtype=np.uint8))
            for _ in range(n)]


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("play") / "frames")
    scenes = _scenes(FRAMES)
    bags.write_image_bag(path, scenes, rate=RATE, encoding="bgr8", row_padding=4, frame_id="cam_play")
    return path, scenes


def _play(args):
    env = processes.ros_env()  # this test process's own domain, localhost discovery (conftest)
    return subprocess.Popen([sys.executable, "-m", "swiftnet_ros.commands.main", "play-bag"] + args, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Listener:
    def __init__(self, topic, qos=50, then=None):
        rclpy.init()
        self.node = rclpy.create_node("play_listener_" + uuid.uuid4().hex[:6])
        self.received = []
        self.then = then
        self.subscription = self.node.create_subscription(Image, topic, self._on_image, qos)

    def _on_image(self, msg):
        self.received.append((msg, time.monotonic()))
        if self.then is not None:
            self.then(msg)

    def wait_matched(self, proc, timeout=60):
        """Our subscription has matched the player's publisher: from now on nothing it sends is lost."""
        matched = processes.wait_for_match(self.node, self.subscription, timeout, processes=[proc])
        assert matched, "no publisher matched within {} s (player exit code {}): {}".format(
            timeout, proc.poll(), proc.stderr.read() if proc.poll() is not None else "")

    def spin_until(self, done, timeout):
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.05)

    def close(self):
        self.node.destroy_node()
        rclpy.shutdown()


def test_plays_every_frame_with_recorded_stamps_pacing_and_remap(bag, tmp_path):
    from rosgraph_msgs.msg import Clock

    path, scenes = bag
    topic = "/played_" + uuid.uuid4().hex[:8]
    log = str(tmp_path / "published.csv")
    listener = Listener(topic)
    clock = []
    last = bags.DEFAULT_START_NS + (FRAMES - 1) * int(1e9 / RATE)
    listener.node.create_subscription(Clock, "/clock", lambda m: clock.append(bags.stamp_to_ns(m.clock)), 50)
    try:
        proc = _play([path, "--topics", bags.IMAGE_TOPIC, "--topic-remap", bags.IMAGE_TOPIC + ":=" + topic,
                      "--rate", "0.5", "--wait-for-subscribers", "1", "--publish-log", log, "--clock"])
        listener.spin_until(lambda: len(listener.received) >= FRAMES or proc.poll() is not None, 60)
        listener.spin_until(lambda: len(listener.received) >= FRAMES and clock[-1:] == [last], 5)
        out, err = proc.communicate(timeout=30)
    finally:
        listener.close()
    assert proc.returncode == 0, err
    assert "published {} messages".format(FRAMES) in out
    stamps = [bags.stamp_to_ns(m.header.stamp) for m, _ in listener.received]
    assert stamps == [bags.DEFAULT_START_NS + i * int(1e9 / RATE) for i in range(FRAMES)]
    for (msg, _), (rgb, _) in zip(listener.received, scenes):
        assert msg.header.frame_id == "cam_play" and msg.encoding == "bgr8" and msg.step == 40 * 3 + 4
        np.testing.assert_array_equal(bags.image_to_array(msg), rgb)
    # recorded 10 Hz played at half speed: 0.2 s between frames
    rows = [line.split(",") for line in open(log).read().splitlines()]
    assert [r[0] for r in rows] == [topic] * FRAMES
    assert [int(r[2]) for r in rows] == stamps
    gaps = np.diff([int(r[3]) / 1e9 for r in rows])  # wall time of each publish
    assert np.all((0.19 < gaps) & (gaps < 0.3)), gaps
    # --clock: /clock follows the bag time (for nodes with use_sim_time)
    assert clock and clock == sorted(clock) and set(clock) <= set(stamps) and clock[-1] == stamps[-1]


def test_loop_until_sigint_exits_cleanly(bag):
    path, _ = bag
    topic = "/looped_" + uuid.uuid4().hex[:8]
    listener = Listener(topic, qos_profile_sensor_data)
    try:
        proc = _play([path, "--topics", bags.IMAGE_TOPIC, "--topic-remap", bags.IMAGE_TOPIC + ":=" + topic,
                      "--rate", "5", "--loop", "--qos", "best_effort", "--wait-for-subscribers", "1"])
        listener.wait_matched(proc)  # best effort: what the player sent before both sides matched is lost
        listener.spin_until(lambda: len(listener.received) >= 2 * FRAMES + 2 or proc.poll() is not None, 60)
        assert proc.poll() is None, "play-bag --loop ended by itself: " + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        out, err = proc.communicate(timeout=10)
        stopped_in = time.monotonic() - start
    finally:
        listener.close()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped after" in out
    assert stopped_in < 2.0
    stamps = [bags.stamp_to_ns(m.header.stamp) for m, _ in listener.received]
    recorded = [bags.DEFAULT_START_NS + i * int(1e9 / RATE) for i in range(FRAMES)]
    assert set(stamps) == set(recorded)  # later passes repeat the recorded stamps
    assert sum(b < a for a, b in zip(stamps, stamps[1:])) >= 1  # and start again from the first


def test_answer_gate_waits_for_each_answer_and_gives_up_on_a_lost_one(bag):
    path, _ = bag
    topic = "/gated_" + uuid.uuid4().hex[:8]
    pending = []  # (when to answer, message)

    def answer_later(msg):
        if len(listener.received) != 3:  # the third frame is never answered
            pending.append((time.monotonic() + 0.25, msg))

    listener = Listener(topic, then=answer_later)
    answers = listener.node.create_publisher(Image, topic + "_answers", 10)
    try:
        # recorded at 10 Hz, asked for 20x: only the answers (0.25 s each) and the 2 s timeout pace it;
        # the start delay lets this subscription match both ways (else the first frame may come late)
        proc = _play([path, "--topics", bags.IMAGE_TOPIC, "--topic-remap", bags.IMAGE_TOPIC + ":=" + topic,
                      "--rate", "20", "--wait-for-subscribers", "1", "--start-delay", "0.5",
                      "--answer-topic", topic + "_answers", "--answer-timeout", "2.0"])
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            rclpy.spin_once(listener.node, timeout_sec=0.02)
            while pending and pending[0][0] <= time.monotonic():
                answers.publish(pending.pop(0)[1])
        out, err = proc.communicate(timeout=10)
    finally:
        listener.close()
    assert proc.returncode == 0, err
    summary = "published {} messages; {} answered on {}_answers, 1 unanswered"
    assert summary.format(FRAMES, FRAMES - 1, topic) in out
    times = [t for _, t in listener.received]
    assert len(times) == FRAMES
    gaps = np.diff(times)
    assert min(gaps) > 0.2, gaps  # never ahead of the answers (20x the recorded rate would be 5 ms)
    assert gaps[2] > 1.9, gaps  # the unanswered third frame held the fourth back until the timeout


@pytest.mark.parametrize("args, message", [
    (["--topic-remap", "/camera/image_raw=/x"], "bad topic remap '/camera/image_raw=/x': expected OLD:=NEW"),
    (["--topics", "/nope"], "topics ['/nope'] not in bag"),
    (["--rate", "0"], "bad rate 0.0: expected a positive speed factor"),
])
def test_bad_arguments_exit_with_a_clear_message(bag, args, message):
    path, _ = bag
    proc = _play([path] + args)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2  # usage errors, --topics included
    assert message in err and "Traceback" not in err


def test_missing_bag_is_named(tmp_path):
    proc = _play([str(tmp_path / "absent")])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "no rosbag2 bag at {}".format(tmp_path / "absent") in err
