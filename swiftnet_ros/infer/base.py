"""The interface every segmenter offers (``Segmenter``, ``MultiScaleSegmenter``), so callers such as the
ROS node's frame pipeline and ``swiftnet-ros segment`` need nothing else from them.

A segmenter turns an (H, W, 3) uint8 image into a ``SegmentationResult``; colours come from its
``palette`` through ``visualize`` (the one colourisation path), which ``set_palette`` may replace.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from swiftnet_ros.data.labels import check_palette
from swiftnet_ros.infer import visualize

OUTPUT_SIZES = ("input", "model")  # labels at the image's resolution, or at the model's input size


def check_output_size(value: str) -> str:
    if value not in OUTPUT_SIZES:
        raise ValueError("output_size {!r}: expected one of {}".format(value, ", ".join(OUTPUT_SIZES)))
    return value


@dataclass
class SegmentationResult:
    """``labels``: (H, W) uint8 class ids, 255 = void; ``timings``: milliseconds per stage and "total";
    ``confidence``: (H, W) uint8 round(255 x max softmax probability) when it was asked for, else None.

    The stages are "preprocess", "inference" (the model alone), "postprocess" and "total".
    """

    labels: np.ndarray
    timings: Dict[str, float] = field(default_factory=dict)
    confidence: Optional[np.ndarray] = None


class SegmenterBase:
    """What a segmenter is to its callers; subclasses set the attributes and implement ``segment``.

    Attributes: ``model_name``, ``backend_name``, ``backend_reason`` (why that backend, for the logs),
    ``precision``, ``device``, ``class_names``, ``num_classes``, ``palette`` ((C, 3) uint8),
    ``input_size`` ((H, W) the model runs at, or None while it follows the image) and ``output_size``
    ("input" | "model").
    """

    model_name: str
    backend_name: str
    backend_reason: str
    precision: str
    device: Any
    class_names: List[str]
    num_classes: int
    palette: np.ndarray
    input_size: Optional[Tuple[int, int]]
    output_size: str

    def segment(self, image: np.ndarray, rgb: bool = True, confidence: bool = False) -> SegmentationResult:
        """(H, W, 3) uint8 image (RGB, or BGR with rgb=False) -> labels at the chosen resolution + timings;
        with ``confidence`` also the confidence map of the same size (computed on the device)."""
        raise NotImplementedError

    def needs_build(self) -> bool:
        """True if the next ``segment`` first builds a backend for its image's size (a TensorRT engine
        build takes minutes); callers use it to say so before the wait."""
        return False

    def set_palette(self, palette: Any) -> None:
        """Colour the classes with ``palette`` ((C, 3) in 0..255, one colour per class) from now on."""
        self.palette = check_palette(palette, self.num_classes)

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) uint8 labels -> (H, W, 3) uint8 RGB palette colours (void black, ids past the palette
        magenta: ``visualize.UNKNOWN_COLOUR``)."""
        return visualize.colorize(labels, self.palette)

    def overlay(self, image: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
        """Colours blended over an (H, W, 3) uint8 image of the labels' size; void pixels keep the image."""
        return visualize.overlay(image, labels, self.palette, alpha)

    def describe(self) -> str:
        """One line: model, classes, size and backend."""
        raise NotImplementedError
