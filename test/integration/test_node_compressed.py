"""segmentation_node with input_transport compressed, output_size model, a palette file, the overlay on."""

import cv2
import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from node_helpers import (
    FAST_MODEL,
    image_array,
    ros_init,
    running_node,
    sample_image,
    stamp,
    unique_namespace,
)
from sensor_msgs.msg import CompressedImage

from swiftnet_ros.ros.image_conversion import compressed_to_rgb

PALETTE = [[(7 * i) % 256, (50 + 11 * i) % 256, (200 + 13 * i) % 256] for i in range(19)]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    palette_file = tmp_path_factory.mktemp("palette") / "palette.yaml"
    palette_file.write_text("palette:\n" + "".join("  - {}\n".format(c) for c in PALETTE))
    params = dict(FAST_MODEL, input_transport="compressed", output_size="model", input_size="64x32",
                  publish_overlay=True, overlay_alpha=0.5, palette=str(palette_file), input_qos="reliable")
    ros_init()
    namespace = unique_namespace("compressed")
    try:
        with running_node(namespace, params, reliable_input=True, compressed=True) as ros:
            yield ros
    finally:
        rclpy.shutdown()


def compressed(image, ext, index, fmt):
    ok, data = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    msg = CompressedImage(format=fmt, data=data.tobytes())
    msg.header.stamp = Time(sec=stamp(index)[0], nanosec=stamp(index)[1])
    msg.header.frame_id = "camera_optical"
    return msg


@pytest.mark.parametrize("ext, fmt, index", [(".png", "png", 1), (".jpg", "rgb8; jpeg compressed bgr8", 2)])
def test_compressed_input_model_size_output_and_palette_file(client, ext, fmt, index):
    image = sample_image(index, 96, 160)
    msg = compressed(image, ext, index, fmt)
    answer = client.send_and_wait(msg, index, kinds=("labels", "color", "overlay", "info"))
    labels = image_array(answer["labels"])
    assert labels.shape == (32, 64)  # output_size: model, input_size 64x32
    assert (answer["info"].height, answer["info"].width) == (32, 64)
    for out in answer.values():
        assert out.header.frame_id == "camera_optical"
    colour = image_array(answer["color"])
    valid = labels != 255
    np.testing.assert_array_equal(colour[valid], np.array(PALETTE, np.uint8)[labels[valid]])
    decoded = compressed_to_rgb(fmt, msg.data)
    small = cv2.resize(decoded, (64, 32), interpolation=cv2.INTER_AREA)
    expected = np.rint(0.5 * small + 0.5 * colour.astype(np.float64))
    assert np.abs(image_array(answer["overlay"]).astype(int) - expected[..., :3]).max() <= 1


def test_bad_compressed_frames_are_counted_and_skipped(client):
    before = int(client.latest_diagnostics()["frames_malformed"])
    bad = [CompressedImage(format="png", data=b"not a png at all"),
           CompressedImage(format="tiff", data=b"II*"), CompressedImage(format="jpeg", data=b"")]
    for number, msg in enumerate(bad):
        msg.header.stamp = Time(sec=stamp(50 + number)[0], nanosec=stamp(50 + number)[1])
        client.publish(msg)
    client.send_and_wait(compressed(sample_image(9, 32, 64), ".png", 60, "png"), 60)
    counted = client.spin_until(lambda: int(client.diagnostics[-1]["frames_malformed"]) >= before + 3
                                if client.diagnostics else False, 5.0)
    assert counted, client.diagnostics[-1:]
    assert not any(client.answered(50 + number, ("labels",)) for number in range(3))
    assert "neither JPEG nor PNG" in client.node_process.output()
