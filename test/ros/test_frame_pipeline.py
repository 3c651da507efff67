"""The node's per-frame work without ROS: fields in -> labels, colours, overlay, summary out."""

import logging

import cv2
import numpy as np
import pytest
import torch

from swiftnet_ros.infer import Segmenter
from swiftnet_ros.infer.multiscale import MultiScaleSegmenter
from swiftnet_ros.infer.visualize import class_fractions
from swiftnet_ros.model import build_model, save_checkpoint
from swiftnet_ros.ros.frame_pipeline import (
    CompressedFrame,
    FramePipeline,
    Outputs,
    RawImage,
    check_frame,
    to_rgb,
)
from swiftnet_ros.ros.image_conversion import ImageConversionError, rgb8_fields
from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields

H, W = 32, 48
CLASSES = ["road", "car", "sky", "tree"]
PALETTE = [[128, 64, 128], [0, 0, 142], [70, 130, 180], [107, 142, 35]]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(3)
    path = str(tmp_path_factory.mktemp("ckpt") / "mnv2_4.pt")
    save_checkpoint(path, build_model("mnv2", num_classes=4), CLASSES, PALETTE)
    return path


@pytest.fixture(scope="module")
def rgb():
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def raw(fields):
    return RawImage(fields["encoding"], fields["height"], fields["width"], fields["step"], fields["data"],
                    fields["is_bigendian"])


def test_every_output_equals_the_segmenters_own(checkpoint, rgb):
    seg = Segmenter(checkpoint, backend="torch", device="cpu", warmup=0)
    frame = FramePipeline(seg).process(raw(rgb8_fields(rgb)), Outputs(color=True, overlay=True,
                                                                      overlay_alpha=0.3))
    labels = seg.segment(rgb).labels
    np.testing.assert_array_equal(frame.image, rgb)
    np.testing.assert_array_equal(frame.labels, labels)
    np.testing.assert_array_equal(frame.color, seg.colorize(labels))
    np.testing.assert_array_equal(frame.overlay, seg.overlay(rgb, labels, 0.3))
    summary = frame.summary
    assert (summary.model, summary.backend, summary.precision) == ("mnv2", "torch", "fp32")
    assert (summary.height, summary.width) == (H, W) and summary.class_names == CLASSES
    np.testing.assert_allclose(summary.class_fractions, class_fractions(labels, 4))
    assert set(frame.timings) == {"conversion", "segment", "preprocess", "inference", "postprocess",
                                  "colorize"}
    assert all(value >= 0 for value in frame.timings.values())


def test_inference_ms_is_the_model_alone_not_the_whole_segmenter_call(checkpoint, rgb):
    """SegmentationInfo.inference_ms was filled from the segmenter's total (pre- and postprocessing too)."""
    frame = FramePipeline(Segmenter(checkpoint, backend="torch", device="cpu", warmup=0)).segment(
        raw(rgb8_fields(rgb)))
    timings = frame.timings
    assert frame.summary.inference_ms == timings["inference"]
    assert frame.summary.inference_ms < timings["preprocess"] + timings["inference"] + timings["postprocess"]
    assert timings["inference"] <= timings["segment"]


def test_outputs_are_made_only_when_wanted(checkpoint, rgb):
    pipeline = FramePipeline(Segmenter(checkpoint, backend="torch", device="cpu", warmup=0))
    frame = pipeline.process(raw(rgb8_fields(rgb)), Outputs(color=False, overlay=False))
    assert frame.color is None and frame.overlay is None and "colorize" not in frame.timings
    frame = pipeline.segment(raw(rgb8_fields(rgb)))
    assert frame.color is None and frame.overlay is None
    pipeline.overlay(frame, 1.0)
    assert frame.color is None and frame.overlay is not None and frame.timings["colorize"] >= 0


def test_encodings_and_compressed_frames_give_the_same_labels(checkpoint, rgb):
    pipeline = FramePipeline(Segmenter(checkpoint, backend="torch", device="cpu", warmup=0))
    expected = pipeline.segment(raw(rgb8_fields(rgb))).labels
    bgr = raw(rgb_to_image_fields(rgb, "bgr8", row_padding=4))
    np.testing.assert_array_equal(pipeline.segment(bgr).labels, expected)
    ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    compressed = CompressedFrame("png", png.tobytes())
    check_frame(compressed)
    np.testing.assert_array_equal(to_rgb(compressed), rgb)
    np.testing.assert_array_equal(pipeline.segment(compressed).labels, expected)


def test_bad_frames_raise_the_conversion_error(checkpoint):
    pipeline = FramePipeline(Segmenter(checkpoint, backend="torch", device="cpu", warmup=0))
    short = RawImage("rgb8", H, W, W * 3, b"\0" * 10, 0)
    with pytest.raises(ImageConversionError):
        check_frame(short)
    with pytest.raises(ImageConversionError):
        pipeline.segment(short)
    with pytest.raises(ImageConversionError):
        check_frame(CompressedFrame("tiff", b"II*\0"))


def test_model_size_labels_get_an_overlay_of_their_own_size(checkpoint, rgb):
    seg = Segmenter(checkpoint, backend="torch", device="cpu", input_size=(16, 24), output_size="model",
                    warmup=0)
    frame = FramePipeline(seg).process(raw(rgb8_fields(rgb)), Outputs(overlay=True, overlay_alpha=1.0))
    assert frame.labels.shape == (16, 24) and frame.summary.height == 16 and frame.summary.width == 24
    assert frame.overlay.shape == (16, 24, 3)
    np.testing.assert_array_equal(frame.overlay, seg.colorize(frame.labels))  # alpha 1: colours only


def test_a_palette_set_on_the_segmenter_colours_every_picture(checkpoint, rgb):
    seg = Segmenter(checkpoint, backend="torch", device="cpu", warmup=0)
    mine = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]], np.uint8)
    seg.set_palette(mine)
    frame = FramePipeline(seg).process(raw(rgb8_fields(rgb)), Outputs(color=True, overlay=True,
                                                                      overlay_alpha=1.0))
    np.testing.assert_array_equal(frame.color, mine[frame.labels])
    np.testing.assert_array_equal(frame.overlay, mine[frame.labels])


def test_the_first_frame_of_a_static_backend_is_announced(checkpoint, rgb, caplog):
    seg = Segmenter(checkpoint, backend="onnxruntime", device="cpu", backend_options={"threads": 1})
    pipeline = FramePipeline(seg)
    with caplog.at_level(logging.INFO, logger="swiftnet_ros"):
        pipeline.segment(raw(rgb8_fields(rgb)))
        first = caplog.text
        caplog.clear()
        pipeline.segment(raw(rgb8_fields(rgb)))
    assert "first frame (48x32): building the onnxruntime backend" in first
    assert "onnxruntime backend ready after" in first
    assert "first frame" not in caplog.text


def test_a_multiscale_segmenter_runs_through_the_same_pipeline(rgb):
    seg = MultiScaleSegmenter("rn18", scales=(1.0,), flip=False, device="cpu")
    frame = FramePipeline(seg).process(raw(rgb8_fields(rgb)), Outputs(color=True))
    np.testing.assert_array_equal(frame.labels, seg.segment(rgb).labels)
    np.testing.assert_array_equal(frame.color, seg.colorize(frame.labels))
    assert frame.summary.model == "rn18" and len(frame.summary.class_fractions) == 19


def test_label_map_names_every_class_and_the_void_id(checkpoint):
    pipeline = FramePipeline(Segmenter(checkpoint, backend="torch", device="cpu", warmup=0))
    assert pipeline.label_map() == [(0, "road"), (1, "car"), (2, "sky"), (3, "tree"), (255, "void")]


def test_compressed_labels_are_a_lossless_mono8_png_and_confidence_comes_with_the_labels(checkpoint, rgb):
    from swiftnet_ros.ros.frame_pipeline import LABELS_PNG_FORMAT

    pipeline = FramePipeline(Segmenter(checkpoint, backend="torch", device="cpu", warmup=0))
    frame = pipeline.process(raw(rgb8_fields(rgb)), Outputs(color=False, confidence=True,
                                                            compressed_labels=True))
    assert LABELS_PNG_FORMAT == "mono8; png compressed"
    assert frame.compressed_labels[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = cv2.imdecode(np.frombuffer(frame.compressed_labels, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint8 and decoded.ndim == 2
    np.testing.assert_array_equal(decoded, frame.labels)
    assert frame.confidence.shape == frame.labels.shape and frame.confidence.dtype == np.uint8
    assert frame.confidence.min() >= 255 // 4
    assert "compress" in frame.timings
    plain = pipeline.process(raw(rgb8_fields(rgb)), Outputs(color=False))
    assert plain.confidence is None and plain.compressed_labels is None
    np.testing.assert_array_equal(plain.labels, frame.labels)
    with_void = frame.labels.copy()
    with_void[::3] = 255  # every value 0..255 survives
    frame.labels = with_void
    decoded = cv2.imdecode(np.frombuffer(pipeline.compressed_labels(frame), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded, with_void)


def test_first_frame_message_says_what_it_waits_for() -> None:
    from swiftnet_ros.ros.frame_pipeline import _first_build

    assert _first_build("auto").startswith("timing torch against onnxruntime at this size")
    assert "TensorRT engine" in _first_build("tensorrt")
    assert _first_build("onnxruntime") == "building the onnxruntime backend for this size"
