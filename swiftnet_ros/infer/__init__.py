"""Inference: one Segmenter over PyTorch, ONNX Runtime and TensorRT backends; ONNX export; benchmarks.

``from swiftnet_ros.infer import Segmenter, SegmentationResult``. No ROS imports here.
"""

from swiftnet_ros.infer.base import SegmentationResult
from swiftnet_ros.infer.segmenter import Segmenter

__all__ = ["Segmenter", "SegmentationResult"]
