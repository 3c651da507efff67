"""int8 post-training quantization of an exported SwiftNet ONNX file with ONNX Runtime.

Static quantization in the QDQ format (QuantizeLinear / DequantizeLinear pairs that ONNX Runtime's
CPU kernels fuse into int8 convolutions): uint8 activations with ranges calibrated on images the
caller gives (min / max over them), int8 weights with one scale per output channel. The result is
self-describing like any export (``metadata.py``) with ``precision: int8`` and a ``quantization``
entry saying how it was made. Which layers stay fp32 is ``keep_fp32`` (the default was chosen by
measured label agreement: bench/results/cpu_notes.md).

Calibration images are plain (H, W, 3) uint8 RGB arrays from any iterable, so this module reads no
files of its own (the command gathers them from synthetic scenes, a folder or a bag).
"""

import contextlib
import itertools
import json
import logging
import os
import tempfile
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from swiftnet_ros.files import write_bytes_atomic
from swiftnet_ros.infer.metadata import read_onnx_metadata, set_onnx_metadata
from swiftnet_ros.infer.options import INT8

KEEP_FP32 = ("logits", "resize", "stem")
"""Layer groups that may stay fp32: the final BN-ReLU-1x1 logits conv, the final bilinear resize
of the logits to the input size, the encoder's first conv."""
DEFAULT_KEEP_FP32 = ("logits",)
CALIBRATION_METHODS = ("minmax", "percentile")
CALIBRATION_SEED = 2000000
"""The first synthetic calibration scene: training uses seeds 0.., validation 1000000.., the published
evaluation 424242..424291 and the benchmark 0, so calibration never sees a scene it is judged on."""


def check_keep_fp32(keep: Sequence[str]) -> Tuple[str, ...]:
    bad = [k for k in keep if k not in KEEP_FP32]
    if bad:
        raise ValueError("keep_fp32 {}: expected some of {}".format(", ".join(bad), ", ".join(KEEP_FP32)))
    return tuple(keep)


def fp32_nodes(graph: object, keep: Sequence[str]) -> List[str]:
    """The names of the graph's nodes in the ``keep`` groups (``KEEP_FP32``), left unquantized."""
    nodes = list(graph.node)
    convs = [n for n in nodes if n.op_type == "Conv"]
    names = []
    if "logits" in keep and convs:
        names += [n.name for n in convs if "/logits/" in n.name] or [convs[-1].name]
    if "resize" in keep:
        resizes = [n for n in nodes if n.op_type == "Resize"]
        names += [resizes[-1].name] if resizes else []
    if "stem" in keep and convs:
        names.append(convs[0].name)
    return names


class _Batches:
    """ONNX Runtime's calibration reader protocol (``get_next`` -> feed dict or None) over images,
    each resized to the model's input size as the Segmenter does it."""

    def __init__(self, images: Iterable[np.ndarray], input_name: str, size: Tuple[int, int]) -> None:
        self._images: Iterator[np.ndarray] = iter(images)
        self._input_name = input_name
        self._size = size
        self.count = 0

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        import torch

        from swiftnet_ros.infer.segmenter import image_to_batch

        image = next(self._images, None)
        if image is None:
            return None
        self.count += 1
        batch = image_to_batch(image, True, torch.device("cpu"), self._size)
        return {self._input_name: batch.numpy().astype(np.float32)}

    def __iter__(self) -> "_Batches":  # ONNX Runtime >= 1.15 also iterates readers
        return self

    def __next__(self) -> Dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """ONNX Runtime's quantizer warns through the root logger (which then gets a stderr handler of its
    own): one line per rank-1 BatchNorm weight and a pre-processing hint, nothing to act on here."""
    root = logging.getLogger()
    quiet = logging.NullHandler()
    level = root.level
    root.addHandler(quiet)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
        root.removeHandler(quiet)


def quantize_onnx(model: object, images: Iterable[np.ndarray], keep_fp32: Sequence[str] = DEFAULT_KEEP_FP32,
                  method: str = "minmax", path: Optional[str] = None, calibration: str = "") -> bytes:
    """The int8 QDQ version of an fp32 swiftnet_ros ONNX model (path or bytes), calibrated on
    ``images`` ((H, W, 3) uint8 RGB, any size: resized to the model's); written atomically to
    ``path`` if given. ``calibration`` describes the images for the metadata."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    keep = check_keep_fp32(keep_fp32)
    if method not in CALIBRATION_METHODS:
        raise ValueError("calibration method {!r}: expected one of {}".format(
            method, ", ".join(CALIBRATION_METHODS)))
    source = model if isinstance(model, str) else "ONNX model"
    meta = read_onnx_metadata(model)  # a corrupt or foreign file fails here, in one line
    if meta["precision"] != "fp32":
        raise ValueError("{} is {}: int8 quantization starts from an fp32 export"
                         .format(source, meta["precision"]))
    proto = onnx.load(model) if isinstance(model, str) else onnx.load_from_string(bytes(model))
    input_name = proto.graph.input[0].name
    excluded = fp32_nodes(proto.graph, keep)
    images = iter(images)
    first = next(images, None)
    if first is None:
        raise ValueError("no calibration images: int8 quantization needs at least one")
    batches = _Batches(itertools.chain([first], images), input_name, meta["input_size"])
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # not one warning per folded constant of the calibration graph
    with tempfile.TemporaryDirectory(prefix="swiftnet_quantize_") as folder:
        fp32_path, int8_path = os.path.join(folder, "fp32.onnx"), os.path.join(folder, "int8.onnx")
        onnx.save(proto, fp32_path)
        ranges = CalibrationMethod.MinMax if method == "minmax" else CalibrationMethod.Percentile
        with _quiet_root_logger():
            quantize_static(
                fp32_path, int8_path, batches, quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=excluded,
                calibrate_method=ranges)
        quantized = onnx.load(int8_path)
    props = {p.key: p.value for p in proto.metadata_props}
    props["precision"] = INT8
    props["quantization"] = json.dumps({
        "format": "QDQ", "activations": "uint8 per tensor", "weights": "int8 per channel",
        "calibration": calibration or "{} images".format(batches.count), "images": batches.count,
        "method": method, "fp32_layers": list(keep)}, sort_keys=True)
    set_onnx_metadata(quantized, props)
    quantized.producer_name = proto.producer_name
    onnx.checker.check_model(quantized)
    data = quantized.SerializeToString()
    if path is not None:
        write_bytes_atomic(path, data)
    return data
