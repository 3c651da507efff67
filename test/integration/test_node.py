"""segmentation_node as a separate OS process over real rclpy + Fast DDS, default QoS (sensor data in).

One node (a random-weight MobileNet V2 preset, torch on CPU, 64x128 images) serves the whole module.
"""

import numpy as np
import pytest
import rclpy
from node_helpers import (
    FAST_MODEL,
    image_array,
    ros_init,
    running_node,
    sample_image,
    set_parameters,
    stamp,
    unique_namespace,
)

from swiftnet_ros.data.labels import get_label_set
from swiftnet_ros.infer.visualize import class_fractions
from swiftnet_ros.ros.image_conversion import SUPPORTED_ENCODINGS, image_to_rgb
from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields

CITYSCAPES = get_label_set("cityscapes")


@pytest.fixture(scope="module")
def client():
    ros_init()
    namespace = unique_namespace("node")
    try:
        with running_node(namespace, dict(FAST_MODEL, error_log_period=0.0, cpu_threads=1)) as ros:
            yield ros
    finally:
        rclpy.shutdown()


def check_answer(answer, image, index):
    """Header copied, sizes equal, labels valid, colour = palette[label], fractions match the labels."""
    labels_msg, info = answer["labels"], answer["info"]
    for msg in answer.values():
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp(index)
        assert msg.header.frame_id == "camera_{}".format(index)
    assert labels_msg.encoding == "mono8"
    labels = image_array(labels_msg)
    assert labels.shape == image.shape[:2]
    assert np.isin(labels, list(range(CITYSCAPES.num_classes)) + [255]).all()
    if "color" in answer:
        assert answer["color"].encoding == "rgb8"
        colour = image_array(answer["color"])
        valid = labels != 255
        np.testing.assert_array_equal(colour[valid], CITYSCAPES.palette[labels[valid]])
        assert (colour[~valid] == 0).all()
    assert (info.height, info.width) == labels.shape
    assert list(info.class_names) == list(CITYSCAPES.class_names)
    assert (info.model, info.backend, info.precision) == ("mnv2", "torch", "fp32")
    fractions = np.array(info.class_fractions)
    np.testing.assert_allclose(fractions, class_fractions(labels, CITYSCAPES.num_classes), atol=1e-6)
    assert fractions.sum() == pytest.approx(1.0 - np.mean(labels == 255), abs=1e-5)
    assert 0 < info.inference_ms <= info.total_ms
    return labels


def test_cpu_threads_sets_the_models_threads(client):
    assert "model on 1 CPU thread(s)" in client.node_process.output()


def test_every_answer_carries_the_input_header_and_consistent_outputs(client):
    for index, (height, width) in enumerate([(64, 128), (48, 80), (64, 128)]):
        image = sample_image(index, height, width)
        msg = client.image_msg(rgb_to_image_fields(image), index, "camera_{}".format(index))
        answer = client.send_and_wait(msg, index, kinds=("labels", "color", "info"))
        check_answer(answer, image, index)
    assert not client.received["overlay"], "overlay is off by default"


def test_every_encoding_and_padded_rows_give_the_labels_of_rgb8(client):
    """The node must see exactly what image_to_rgb (tested against references) makes of each encoding."""
    image = sample_image(7)
    index = 100
    reference = {}  # RGB bytes -> labels the node gave for it as rgb8
    for encoding in SUPPORTED_ENCODINGS:
        fields = rgb_to_image_fields(image, encoding, row_padding=5)
        seen = image_to_rgb(fields["encoding"], fields["height"], fields["width"], fields["step"],
                            fields["data"], fields["is_bigendian"])
        key = np.ascontiguousarray(seen).tobytes()
        if key not in reference:
            index += 1
            rgb_msg = client.image_msg(rgb_to_image_fields(np.ascontiguousarray(seen)), index)
            reference[key] = image_array(client.send_and_wait(rgb_msg, index)["labels"]).copy()
        index += 1
        labels = image_array(client.send_and_wait(client.image_msg(fields, index), index)["labels"])
        np.testing.assert_array_equal(labels, reference[key], err_msg=encoding)
    assert len(reference) == 7  # rgb family, mono, YUV 4:2:2 (both byte orders alike), four Bayer patterns


def malformed_messages():
    good = rgb_to_image_fields(sample_image(1, 16, 16))
    return [dict(good, encoding="rgb9"), dict(good, encoding=""), dict(good, height=0, step=0),
            dict(good, width=0), dict(good, step=good["step"] - 1),
            dict(good, height=100000, width=100000, step=300000), dict(good, data=good["data"][:-1]),
            dict(good, encoding="yuv422", width=5, step=10, height=19)]


def test_malformed_frames_are_skipped_and_counted_while_the_node_keeps_answering(client):
    before = int(client.latest_diagnostics()["frames_malformed"])
    image = sample_image(3)
    index = 200
    bad = malformed_messages()
    for round_ in range(3):
        for number, fields in enumerate(bad):
            client.publish(client.image_msg(fields, 300 + round_ * 100 + number))
            client.spin_until(lambda: False, 0.01)
        index += 1
        msg = client.image_msg(rgb_to_image_fields(image), index, "camera_{}".format(index))
        answer = client.send_and_wait(msg, index)
        assert image_array(answer["labels"]).shape == image.shape[:2]
    expected = before + 3 * len(bad)
    counted = client.spin_until(lambda: client.diagnostics
                                and int(client.diagnostics[-1]["frames_malformed"]) >= expected, 5.0)
    assert counted, client.diagnostics[-1:]
    for round_ in range(3):
        for number in range(len(bad)):
            assert not client.answered(300 + round_ * 100 + number, kinds=("labels",))
    log = client.node_process.output()
    assert "skipped a bad frame: unsupported encoding 'rgb9'" in log
    assert "Traceback" not in log


def test_diagnostics_report_rates_latency_and_backend(client):
    image = sample_image(4)
    for index in range(400, 404):
        client.send_and_wait(client.image_msg(rgb_to_image_fields(image), index), index)
    status = client.latest_diagnostics()
    assert status["name"] == client.namespace + "/segmentation_node: segmentation"
    assert (status["backend"], status["precision"], status["model"]) == ("torch", "fp32", "mnv2")
    for key in ("input_rate_hz", "output_rate_hz", "latency_ms_p50", "latency_ms_p95", "frames_dropped",
                "frames_malformed", "inference_ms_p50", "overhead_ms_p50"):
        assert key in status, key
    assert float(status["output_rate_hz"]) > 0
    assert float(status["latency_ms_p95"]) >= float(status["latency_ms_p50"]) > 0
    assert int(status["frames_published"]) >= 4
    assert "Hz in" in status["message"]


def test_safe_parameters_change_at_run_time_and_unsafe_ones_are_refused_with_a_reason(client):
    image = sample_image(5)
    results = set_parameters(client, publish_overlay=True, overlay_alpha=1.0)
    assert all(r.successful for r in results), [r.reason for r in results]
    answer = client.send_and_wait(client.image_msg(rgb_to_image_fields(image), 500), 500,
                                  kinds=("labels", "overlay", "color", "info"))
    labels = image_array(answer["labels"])
    overlay = image_array(answer["overlay"])
    valid = labels != 255
    np.testing.assert_array_equal(overlay[valid], CITYSCAPES.palette[labels[valid]])  # alpha 1: colours only
    results = set_parameters(client, overlay_alpha=0.0)
    assert results[0].successful
    answer = client.send_and_wait(client.image_msg(rgb_to_image_fields(image), 501), 501,
                                  kinds=("labels", "overlay", "info"))
    np.testing.assert_array_equal(image_array(answer["overlay"]), image)  # alpha 0: the input itself
    refused = set_parameters(client, weights="rn18")[0]
    assert not refused.successful and "read at start-up only" in refused.reason
    refused = set_parameters(client, overlay_alpha=7.5)[0]
    assert not refused.successful and "7.5" in refused.reason
    refused = set_parameters(client, publish_color="no")[0]
    assert not refused.successful
    assert set_parameters(client, publish_overlay=False, publish_color=False)[0].successful
    answer = client.send_and_wait(client.image_msg(rgb_to_image_fields(image), 502), 502)
    client.spin_until(lambda: False, 0.3)
    assert stamp(502) not in client.received["color"] and stamp(502) not in client.received["overlay"]
    assert set_parameters(client, publish_color=True)[0].successful
