"""The node under attack (real rclpy, separate processes): malformed floods, size changes, signals under load.

One node (random-weight MobileNet V2, torch on CPU, model input 256x128, reliable input QoS with a deep
queue so that no message is lost on the way) takes >= 1000 malformed Image messages interleaved with
valid ones, then camera size changes; it must answer every valid frame and count every bad one. Every
optional output is on and subscribed (confidence, PNG labels, camera_info with a calibration sent).
"""

import signal
import threading
import time

import numpy as np
import pytest
import rclpy
from node_helpers import (
    FAST_MODEL,
    NodeProcess,
    RosClient,
    image_array,
    process_figures,
    ros_init,
    running_node,
    sample_image,
    send_with_camera_info,
    stamp,
    unique_namespace,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields

ROUNDS = 20
MALFORMED_PER_ROUND = 50  # 1000 in all
DEPTH = 2 * MALFORMED_PER_ROUND + 10


@pytest.fixture(scope="module")
def ros_context():
    ros_init()
    yield
    rclpy.shutdown()


@pytest.fixture(scope="module")
def client(ros_context):
    namespace = unique_namespace("attack")
    params = dict(FAST_MODEL, input_size="256x128", input_qos="reliable", qos_depth=DEPTH,
                  error_log_period=1.0, publish_confidence=True, publish_compressed_labels=True)
    with running_node(namespace, params, reliable_input=True, depth=DEPTH) as ros:
        for kind, topic, msg_type in (("confidence", "segmentation/confidence", Image),
                                      ("compressed", "segmentation/labels/compressed", CompressedImage),
                                      ("camera_info", "segmentation/camera_info", CameraInfo)):
            ros.received[kind] = {}
            ros.node.create_subscription(msg_type, topic, ros._collector(kind), DEPTH)
        calibration = ros.node.create_publisher(CameraInfo, "camera_info", 1)
        assert ros.spin_until(lambda: calibration.get_subscription_count() > 0, 30)
        # one answer on every output first: Fast DDS starts some threads at a writer's first sample,
        # which the flood's thread count must not mistake for a leak
        warm_up = ros.image_msg(rgb_to_image_fields(sample_image(0, 64, 128)), 99999)
        info = CameraInfo(width=128, height=64, k=[100.0, 0, 64, 0, 100.0, 32, 0, 0, 1])
        send_with_camera_info(ros, calibration, [info], warm_up, 99999,
                              ("labels", "info", "confidence", "compressed", "camera_info"))
        yield ros


def malformed_fields(rng):
    """One malformed Image's fields, of a randomly chosen kind (seeded)."""
    good = rgb_to_image_fields(np.zeros((16, 32, 3), np.uint8))
    data = good["data"]
    kinds = [
        ("short data", dict(good, data=data[:-int(rng.integers(1, 100))])),
        ("long data", dict(good, data=data + data[:int(rng.integers(1, 100))])),
        ("zero height", dict(good, height=0)),
        ("zero width", dict(good, width=0, step=0)),
        ("unknown encoding", dict(good, encoding=str(rng.choice(["rgb9", "RGB8", "", "yuv420", "bayer"])))),
        ("absurd size", dict(good, height=100000, width=100000, step=300000)),
        ("absurd size", dict(good, height=2 ** 32 - 1, width=2 ** 31, step=2 ** 32 - 1)),
        ("odd step", dict(good, step=good["step"] - int(rng.integers(1, 5)))),
        ("odd step", dict(good, step=good["step"] + 1)),
        ("odd yuv422 width", dict(good, encoding="yuv422", width=31, step=62, height=len(data) // 62)),
        ("bad is_bigendian", dict(good, is_bigendian=int(rng.integers(2, 256)))),
    ]
    return kinds[int(rng.integers(0, len(kinds)))]


def test_malformed_flood_interleaved_with_valid_frames(client, figures):
    rng = np.random.default_rng(2024)
    node_pid = client.node_process.proc.pid
    before = process_figures(node_pid)
    start_diag = client.latest_diagnostics()
    kinds = {}
    valid_index = 0
    for round_ in range(ROUNDS):
        image = sample_image(round_, 64, 128)
        valid = client.image_msg(rgb_to_image_fields(image), valid_index, "camera")
        for number in range(MALFORMED_PER_ROUND):
            if number == MALFORMED_PER_ROUND // 2:
                client.publish(valid)  # in the middle of the flood
            kind, fields = malformed_fields(rng)
            kinds[kind] = kinds.get(kind, 0) + 1
            client.publish(client.image_msg(fields, 10000 + round_ * 100 + number))
        answered = client.spin_until(lambda index=valid_index: client.answered(index), 60)
        assert answered, "valid frame {} was not answered".format(valid_index)
        assert image_array(client.received["labels"][stamp(valid_index)]).shape == (64, 128)
        assert client.spin_until(lambda index=valid_index: client.answered(
            index, ("confidence", "compressed", "camera_info")), 10), "optional outputs of frame {}".format(
            valid_index)
        valid_index += 1
    sent = ROUNDS * MALFORMED_PER_ROUND
    expected = int(start_diag["frames_malformed"]) + sent
    counted = client.spin_until(lambda: client.diagnostics
                                and int(client.diagnostics[-1]["frames_malformed"]) >= expected, 10)
    status = client.diagnostics[-1]
    assert counted and int(status["frames_malformed"]) == expected, status
    assert int(status["frames_dropped"]) == 0
    assert client.node_process.proc.poll() is None, "the node died"
    answered = sum(client.answered(i) for i in range(valid_index))
    assert answered == valid_index
    assert not any(client.answered(10000 + r * 100 + n, ("labels",)) for r in range(ROUNDS)
                   for n in range(MALFORMED_PER_ROUND))
    log_lines = [line for line in client.node_process.output().splitlines() if "bad frame" in line]
    assert 1 <= len(log_lines) < 60, "bad-frame logs are throttled (error_log_period 1 s)"
    after = process_figures(node_pid)
    assert after["fds"] <= before["fds"] + 2 and after["threads"] <= before["threads"] + 2
    figures["malformed sent"] = sent
    figures["malformed counted"] = int(status["frames_malformed"]) - int(start_diag["frames_malformed"])
    figures["valid sent"] = valid_index
    figures["valid answered"] = answered
    figures["kinds"] = ", ".join("{} {}".format(k, v) for k, v in sorted(kinds.items()))
    figures["bad-frame log lines"] = len(log_lines)
    figures["node RSS MiB"] = "{:.0f} -> {:.0f}".format(before["rss_mib"], after["rss_mib"])


def test_camera_size_changes_mid_stream(client, figures):
    sizes = [(512, 1024), (480, 640), (1024, 2048), (512, 1024)]
    index = 500
    for height, width in sizes:
        image = sample_image(index, height, width)
        msg = client.image_msg(rgb_to_image_fields(image), index)
        answer = client.send_and_wait(msg, index, timeout=60, resend_after=60)
        assert image_array(answer["labels"]).shape == (height, width)
        assert (answer["info"].height, answer["info"].width) == (height, width)
        index += 1
    assert client.node_process.proc.poll() is None
    figures["sizes answered (WxH)"] = " -> ".join("{}x{}".format(w, h) for h, w in sizes)


def stream(client, stop, size=(256, 512)):
    image = rgb_to_image_fields(sample_image(1, *size))
    index = 900
    while not stop.is_set():
        client.publish(client.image_msg(image, index))
        index += 1
        time.sleep(0.02)


def test_sigterm_under_load_exits_within_2_s(client, figures):
    """Last in this module: it ends the shared node while frames pour in and the model is busy."""
    stop = threading.Event()
    publisher = threading.Thread(target=stream, args=(client, stop))
    publisher.start()
    try:
        busy = client.spin_until(lambda: len(client.received["info"]) > 30, 30)
        assert busy
        code, seconds = client.node_process.stop(signal.SIGTERM)
    finally:
        stop.set()
        publisher.join()
    assert code == 0 and seconds < 2.0, client.node_process.output()[-2000:]
    assert "Traceback" not in client.node_process.output()
    figures["SIGTERM under load: exit s"] = round(seconds, 3)


def test_sigint_under_load_exits_within_2_s(ros_context, figures):
    namespace = unique_namespace("sigint")
    with NodeProcess(namespace, dict(FAST_MODEL, input_qos="reliable")) as node:
        node.wait_ready()
        ros = RosClient(namespace, reliable_input=True)
        try:
            ros.wait_connected()
            stop = threading.Event()
            publisher = threading.Thread(target=stream, args=(ros, stop, (512, 1024)))
            publisher.start()
            try:
                assert ros.spin_until(lambda: len(ros.received["info"]) >= 2, 30)
                code, seconds = node.stop(signal.SIGINT)
            finally:
                stop.set()
                publisher.join()
        finally:
            ros.close()
        assert code == 0 and seconds < 2.0, node.output()[-2000:]
        assert "Traceback" not in node.output()
    figures["SIGINT under load: exit s"] = round(seconds, 3)
