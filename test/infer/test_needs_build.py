"""Segmenter.needs_build for a torch backend that traces / compiles / captures per input shape: without a
warm-up its first image waits for that (about a minute for torch.compile on a GPU), and the node's frame
pipeline says so before the wait (issue 16: first-frame compile time logged)."""

import logging

import numpy as np
import pytest

from swiftnet_ros.infer import Segmenter
from swiftnet_ros.infer.options import TorchOptions
from swiftnet_ros.ros.frame_pipeline import FramePipeline, RawImage
from swiftnet_ros.ros.image_conversion import rgb8_fields

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, (32, 64, 3), dtype=np.uint8)


def test_options_that_build_per_shape():
    assert not TorchOptions().builds_per_shape()  # fold_bn + channels_last: plain eager calls
    for name in ("jit", "compile", "compile_head", "cuda_graphs"):
        assert TorchOptions(**{name: True}).builds_per_shape(), name


def test_a_tracing_backend_needs_a_build_until_its_first_image(image):
    lazy = Segmenter("mnv2", backend="torch", device="cpu", warmup=0, backend_options={"jit": True})
    assert lazy.needs_build()
    lazy.segment(image)
    assert not lazy.needs_build()
    warmed = Segmenter("mnv2", backend="torch", device="cpu", input_size=(32, 64), warmup=1,
                       backend_options={"jit": True})
    assert not warmed.needs_build()  # the warm-up at construction took the wait
    assert not Segmenter("mnv2", backend="torch", device="cpu", warmup=0).needs_build()  # eager


def test_the_pipeline_announces_the_first_image_of_a_tracing_backend(image, caplog):
    pipeline = FramePipeline(Segmenter("mnv2", backend="torch", device="cpu", warmup=0,
                                       backend_options={"jit": True}))
    fields = rgb8_fields(image)
    frame = RawImage(fields["encoding"], fields["height"], fields["width"], fields["step"], fields["data"],
                     fields["is_bigendian"])
    with caplog.at_level(logging.INFO, logger="swiftnet_ros"):
        pipeline.segment(frame)
        first = caplog.text
        caplog.clear()
        pipeline.segment(frame)
    assert "first frame (64x32): building the torch backend" in first
    assert "torch backend ready after" in first
    assert "first frame" not in caplog.text
