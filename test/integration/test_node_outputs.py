"""The standard perception outputs over real DDS, node in its own process: segmentation/label_info
(latched, for late joiners), segmentation/camera_info (matched by stamp, at the labels' size),
segmentation/confidence and segmentation/labels/compressed (switched on by parameter, also at run time);
and label_info off, in one log line, where vision_msgs is missing."""

import os
import time

import cv2
import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from node_helpers import (
    FAST_MODEL,
    REPO,
    image_array,
    ros_init,
    running_node,
    sample_image,
    send_with_camera_info,
    set_parameters,
    stamp,
)
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from vision_msgs.msg import LabelInfo

from swiftnet_ros.data.labels import get_label_set
from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields
from swiftnet_ros.tools.node_client import qos
from swiftnet_ros.tools.processes import NodeProcess, unique_namespace

CITYSCAPES = get_label_set("cityscapes")
LATCHED = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                     durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
EXTRA = {"camera_info": ("segmentation/camera_info", CameraInfo),
         "confidence": ("segmentation/confidence", Image),
         "compressed": ("segmentation/labels/compressed", CompressedImage)}
K = [500.0, 0.0, 63.5, 0.0, 510.0, 31.5, 0.0, 0.0, 1.0]
P = [500.0, 0.0, 63.5, -25.0, 0.0, 510.0, 31.5, 0.0, 0.0, 0.0, 1.0, 0.0]


@pytest.fixture(scope="module")
def client():
    ros_init()
    namespace = unique_namespace("outputs")
    params = dict(FAST_MODEL, cpu_threads=1, publish_confidence=True, publish_compressed_labels=True,
                  input_size="64x32", output_size="model", publish_color=False, error_log_period=0.0)
    try:
        with running_node(namespace, params) as ros:
            for kind, (topic, msg_type) in EXTRA.items():
                ros.received[kind] = {}
                ros.node.create_subscription(msg_type, topic, ros._collector(kind), qos(True, 50))
            ros.camera_pub = ros.node.create_publisher(CameraInfo, "camera_info", qos(True, 10))
            topics = [namespace + "/" + topic for topic, _ in EXTRA.values()]
            assert ros.spin_until(lambda: ros.camera_pub.get_subscription_count() > 0
                                  and all(ros.node.count_publishers(t) > 0 for t in topics), 30)
            yield ros
    finally:
        rclpy.shutdown()


def camera_info(index, width=128, height=64, frame_id="camera"):
    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob", d=[0.1, -0.2, 0.0, 0.0, 0.01],
                     k=K, p=P, r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0])
    msg.header.stamp = Time(sec=stamp(index)[0], nanosec=stamp(index)[1])
    msg.header.frame_id = frame_id
    return msg


def image_message(client, index):
    return client.image_msg(rgb_to_image_fields(sample_image(index)), index, "camera_{}".format(index))


def send(client, index, kinds):
    return client.send_and_wait(image_message(client, index), index, kinds=kinds)


def test_label_info_reaches_a_subscriber_that_joins_late(client):
    got = []
    sub = client.node.create_subscription(LabelInfo, "segmentation/label_info", got.append, LATCHED)
    assert client.spin_until(lambda: got, 20), "no latched label_info"
    msg = got[0]
    ids = [c.class_id for c in msg.class_map]
    names = [c.class_name for c in msg.class_map]
    assert ids == list(range(CITYSCAPES.num_classes)) + [255]
    assert names == list(CITYSCAPES.class_names) + ["void"]
    assert msg.threshold == 0.0
    client.node.destroy_subscription(sub)
    volatile = []
    sub = client.node.create_subscription(LabelInfo, "segmentation/label_info", volatile.append, qos(True))
    client.spin_until(lambda: volatile, 2.0)
    assert not volatile, "published once at start, not per frame"
    client.node.destroy_subscription(sub)


def test_without_camera_info_nothing_is_published_on_segmentation_camera_info(client):
    send(client, 0, ("labels", "info"))
    client.spin_until(lambda: False, 0.5)
    assert not client.received["camera_info"]


def test_camera_info_is_matched_by_stamp_scaled_to_the_labels_and_carries_their_header(client):
    # two calibrations, the newer of another size: the image's stamp picks its own
    infos = [camera_info(10), camera_info(11, width=256, height=128)]
    answer = send_with_camera_info(client, client.camera_pub, infos, image_message(client, 10), 10,
                                   ("labels", "info", "camera_info", "confidence", "compressed"),
                                   done=lambda a: a["camera_info"].k[0] == 250.0)
    labels = image_array(answer["labels"])
    assert labels.shape == (32, 64)  # output_size model at 64x32: half the camera's 128x64
    info = answer["camera_info"]
    assert info.header == answer["labels"].header and info.header.frame_id == "camera_10"
    assert (info.width, info.height) == (64, 32)
    assert list(info.k) == [250.0, 0.0, 31.75, 0.0, 255.0, 15.75, 0.0, 0.0, 1.0]  # exactly halved
    assert list(info.p) == [250.0, 0.0, 31.75, -12.5, 0.0, 255.0, 15.75, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert list(info.d) == [0.1, -0.2, 0.0, 0.0, 0.01] and info.distortion_model == "plumb_bob"
    assert list(info.r) == [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
    # no camera_info with the image's stamp: the newest one (a mismatch would keep 250 or give 500)
    newest = camera_info(12, width=256, height=128)
    info = send_with_camera_info(client, client.camera_pub, [camera_info(11, width=512, height=256), newest],
                                 image_message(client, 13), 13, ("labels", "camera_info"),
                                 done=lambda a: a["camera_info"].k[0] != 250.0)["camera_info"]
    assert info.header.stamp.sec == stamp(13)[0] and list(info.k)[0] == 125.0


def test_confidence_and_compressed_labels_have_the_labels_header_size_and_values(client):
    answer = send(client, 20, ("labels", "info", "confidence", "compressed"))
    labels = image_array(answer["labels"])
    confidence_msg, compressed = answer["confidence"], answer["compressed"]
    assert confidence_msg.header == answer["labels"].header == compressed.header
    assert confidence_msg.encoding == "mono8"
    confidence = image_array(confidence_msg)
    assert confidence.shape == labels.shape
    assert confidence.min() >= 255 // CITYSCAPES.num_classes and confidence.max() <= 255
    assert compressed.format == "mono8; png compressed"
    decoded = cv2.imdecode(np.frombuffer(bytes(compressed.data), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded, labels)  # lossless


def test_confidence_and_compressed_labels_switch_off_and_on_at_run_time(client):
    results = set_parameters(client, publish_confidence=False, publish_compressed_labels=False)
    assert all(r.successful for r in results), [r.reason for r in results]
    send(client, 30, ("labels", "info"))
    client.spin_until(lambda: False, 0.5)
    assert stamp(30) not in client.received["confidence"] and stamp(30) not in client.received["compressed"]
    assert all(r.successful for r in set_parameters(client, publish_confidence=True,
                                                    publish_compressed_labels=True))
    send(client, 31, ("labels", "confidence", "compressed"))
    refused = set_parameters(client, publish_confidence="yes")[0]
    assert not refused.successful and "publish_confidence" in refused.reason


def test_the_node_keeps_answering_and_counting_bad_frames_with_every_output_on(client):
    good = rgb_to_image_fields(sample_image(3))
    for number, bad in enumerate([dict(good, encoding="rgb9"), dict(good, step=good["step"] - 1)]):
        client.publish(client.image_msg(bad, 40 + number))
    infos = [camera_info(44), camera_info(45, width=0, height=0)]  # the second one is bad

    def bad_one_seen(answer):
        return "skipped a camera_info with size 0x0" in client.node_process.output()

    kinds = ("labels", "info", "camera_info", "confidence", "compressed")
    answer = send_with_camera_info(client, client.camera_pub, infos, image_message(client, 45), 45, kinds,
                                   done=bad_one_seen)
    info = answer["camera_info"]  # the bad one (of the image's own stamp) was skipped, the good one used
    assert (info.width, info.k[0]) == (64, 250.0)
    assert not client.answered(40, kinds=("labels",)) and not client.answered(41, kinds=("labels",))
    log = client.node_process.output()
    assert "skipped a camera_info with size 0x0" in log and "Traceback" not in log
    assert client.node_process.proc.poll() is None


def test_without_vision_msgs_the_node_runs_and_says_once_that_label_info_is_off(tmp_path):
    """A vision_msgs that cannot be imported (as where it is not installed), first on the path."""
    package = tmp_path / "vision_msgs"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('No module named vision_msgs (test)')\n")
    path = [str(tmp_path), REPO, os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    with NodeProcess(unique_namespace("novision"), FAST_MODEL, env=env, cwd=REPO) as node:
        node.wait_ready()
        time.sleep(0.2)
        log = node.output()
        assert log.count("segmentation/label_info is off") == 1, log
        assert "vision_msgs is not installed" in log and node.proc.poll() is None
