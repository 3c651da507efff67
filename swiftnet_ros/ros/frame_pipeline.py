"""The node's per-frame work without ROS: image fields in -> labels, colours, overlay and summary out.

``FramePipeline.segment`` converts a frame (``RawImage`` or ``CompressedFrame``: the fields of
sensor_msgs/Image and CompressedImage), segments it (with the confidence map when asked for) and
sums it up (``FrameSummary``: the numbers of SegmentationInfo); ``compressed_labels``, ``color``
and ``overlay`` then add the other outputs, each on request, so the node publishes the labels and
the summary before any colourisation. ``process`` does all of it in one call for tests and
benchmarks. Each output takes its data from the ``FrameResult`` and records its time there.
``label_map`` is the class table of vision_msgs/LabelInfo.
"""

import logging
import time
from collections import namedtuple
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

import numpy as np

from swiftnet_ros.data.labels import VOID
from swiftnet_ros.ros import image_conversion as conversion

if TYPE_CHECKING:  # importing swiftnet_ros.infer imports torch: the node does that only after its checks
    from swiftnet_ros.infer.base import SegmenterBase

LOG = logging.getLogger(__name__)

# the fields of sensor_msgs/Image and sensor_msgs/CompressedImage that the pipeline reads
RawImage = namedtuple("RawImage", "encoding height width step data is_bigendian")
CompressedFrame = namedtuple("CompressedFrame", "format data")
Source = Union[RawImage, CompressedFrame]

# sensor_msgs/CompressedImage.format of PNG labels, as image_transport's compressed plugin names it
LABELS_PNG_FORMAT = "mono8; png compressed"
LABELS_PNG_LEVEL = 3  # zlib level (image_transport's default png_level); PNG is lossless at any level
VOID_NAME = "void"  # the name of the void / unlabeled id (255) in label_map


def check_frame(source: Source) -> None:
    """The cheap check of a frame's fields, before it waits for the model: ImageConversionError if bad."""
    if isinstance(source, CompressedFrame):
        conversion.check_compressed(source.format, source.data)
    else:
        conversion.check_image(source.encoding, source.height, source.width, source.step, len(source.data),
                               source.is_bigendian)


def to_rgb(source: Source) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a frame (a view of its buffer where the encoding allows)."""
    if isinstance(source, CompressedFrame):
        return conversion.compressed_to_rgb(source.format, source.data)
    return conversion.image_to_rgb(source.encoding, source.height, source.width, source.step, source.data,
                                   source.is_bigendian)


def _first_build(backend: str) -> str:
    """What the first frame of a size waits for, by backend ("auto": not chosen yet)."""
    if backend == "auto":
        return "timing torch against onnxruntime at this size (once per machine, model and size; then cached)"
    if backend == "tensorrt":
        return "building the TensorRT engine for this size (minutes; then cached)"
    return "building the {} backend for this size".format(backend)


@dataclass
class Outputs:
    """Which outputs ``process`` makes beside the labels and the summary."""

    color: bool = True
    overlay: bool = False
    overlay_alpha: float = 0.5
    confidence: bool = False
    compressed_labels: bool = False


@dataclass
class FrameSummary:
    """The numbers of one frame's SegmentationInfo (less header, total_ms and dropped_frames, which are
    the node's): ``inference_ms`` is the model alone (backend and argmax, not pre/postprocessing)."""

    model: str
    backend: str
    precision: str
    height: int
    width: int
    class_names: List[str]
    class_fractions: List[float]
    inference_ms: float


@dataclass
class FrameResult:
    """One frame through the pipeline: the RGB ``image``, its ``labels`` (H, W) uint8, the ``summary``,
    the optional outputs and ``timings`` in ms: conversion, segment (the whole segmenter call), the
    segmenter's preprocess / inference / postprocess, colorize (colour and overlay together), compress.
    ``confidence``: (H, W) uint8 round(255 x max softmax probability), ``compressed_labels``: PNG bytes."""

    image: np.ndarray
    labels: np.ndarray
    summary: FrameSummary
    timings: Dict[str, float] = field(default_factory=dict)
    color: Optional[np.ndarray] = None
    overlay: Optional[np.ndarray] = None
    confidence: Optional[np.ndarray] = None
    compressed_labels: Optional[bytes] = None


class FramePipeline:
    """Frames through one segmenter (any ``SegmenterBase``: ``Segmenter``, ``MultiScaleSegmenter``)."""

    def __init__(self, segmenter: "SegmenterBase") -> None:
        from swiftnet_ros.infer.visualize import class_fractions

        self.segmenter = segmenter
        self._class_fractions = class_fractions

    def label_map(self) -> List[Tuple[int, str]]:
        """(class id, name) of every class, 0..C-1 with the checkpoint's names, then (255, "void")."""
        return list(enumerate(self.segmenter.class_names)) + [(VOID, VOID_NAME)]

    def segment(self, source: Source, confidence: bool = False) -> FrameResult:
        """Convert and segment one frame: labels and summary (ImageConversionError for a bad frame);
        ``confidence``: the confidence map too (computed on the model's device)."""
        segmenter = self.segmenter
        start = time.perf_counter()
        image = to_rgb(source)
        converted = time.perf_counter()
        first = segmenter.needs_build()
        if first:
            LOG.info("first frame (%dx%d): %s", image.shape[1], image.shape[0],
                     _first_build(segmenter.backend_name))
        result = segmenter.segment(image, confidence=confidence)
        segmented = time.perf_counter()
        if first:
            LOG.info("%s backend ready after %.1f s (%s)", segmenter.backend_name, segmented - converted,
                     segmenter.backend_reason)
        labels = result.labels
        summary = FrameSummary(
            model=segmenter.model_name, backend=segmenter.backend_name, precision=segmenter.precision,
            height=int(labels.shape[0]), width=int(labels.shape[1]), class_names=list(segmenter.class_names),
            class_fractions=self._class_fractions(labels, segmenter.num_classes).tolist(),
            inference_ms=float(result.timings["inference"]))
        timings = {"conversion": (converted - start) * 1e3, "segment": (segmented - converted) * 1e3}
        for stage in ("preprocess", "inference", "postprocess"):
            timings[stage] = float(result.timings[stage])
        return FrameResult(image, labels, summary, timings, confidence=result.confidence)

    def compressed_labels(self, frame: FrameResult) -> bytes:
        """The labels as a lossless mono8 PNG (``LABELS_PNG_FORMAT``; kept in ``frame.compressed_labels``)."""
        start = time.perf_counter()
        frame.compressed_labels = encode_labels_png(frame.labels)
        _add_ms(frame.timings, "compress", start)
        return frame.compressed_labels

    def color(self, frame: FrameResult) -> np.ndarray:
        """(H, W, 3) uint8 palette colours of the labels (kept in ``frame.color``)."""
        start = time.perf_counter()
        frame.color = self.segmenter.colorize(frame.labels)
        _add_ms(frame.timings, "colorize", start)
        return frame.color

    def overlay(self, frame: FrameResult, alpha: float) -> np.ndarray:
        """Colours blended over the input at the labels' size (kept in ``frame.overlay``)."""
        start = time.perf_counter()
        base = frame.image
        if base.shape[:2] != frame.labels.shape:  # output_size "model": the input at the labels' size
            base = _resize(base, frame.labels.shape)
        frame.overlay = self.segmenter.overlay(base, frame.labels, alpha)
        _add_ms(frame.timings, "colorize", start)
        return frame.overlay

    def process(self, source: Source, outputs: Optional[Outputs] = None) -> FrameResult:
        """``segment`` and then the wanted pictures, in one call."""
        outputs = Outputs() if outputs is None else outputs
        frame = self.segment(source, confidence=outputs.confidence)
        if outputs.compressed_labels:
            self.compressed_labels(frame)
        if outputs.color:
            self.color(frame)
        if outputs.overlay:
            self.overlay(frame, outputs.overlay_alpha)
        return frame


def encode_labels_png(labels: np.ndarray) -> bytes:
    """(H, W) uint8 labels as a lossless grayscale PNG."""
    import cv2

    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(labels),
                               [cv2.IMWRITE_PNG_COMPRESSION, LABELS_PNG_LEVEL])
    if not ok:
        raise RuntimeError("OpenCV could not PNG-encode labels of shape {}".format(labels.shape))
    return encoded.tobytes()


def _add_ms(timings: Dict[str, float], stage: str, start: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - start) * 1e3


def _resize(image: np.ndarray, shape: Any) -> np.ndarray:
    import cv2

    size = (int(shape[1]), int(shape[0]))
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
