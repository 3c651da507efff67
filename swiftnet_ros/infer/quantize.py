"""int8 post-training quantization of an exported SwiftNet ONNX file with ONNX Runtime.

Static quantization in the QDQ format (QuantizeLinear / DequantizeLinear pairs that ONNX Runtime's
CPU kernels fuse into int8 convolutions): uint8 activations with one range per tensor, int8 weights
with one scale per output channel. The result is self-describing like any export (``metadata.py``)
with ``precision: int8`` and a ``quantization`` entry saying how it was made.

Activation ranges come from this module's own pass over the calibration images (not ONNX Runtime's
calibrators, whose percentile histogram took minutes per image at 1024x512): per image, each tensor's
extremes and its 1e-5 tails (TopK in the graph, so that no full activation leaves the session), then
``percentile``: the mean over images of the tails, or ``minmax``: the extremes over all images. The
model input (the normalised image, before the first Conv) always gets its full range, that of black
and white images: clipping it cost one bright unseen scene 4% agreement. The ranges reach ONNX
Runtime's quantizer as its calibration cache.

Which layers stay fp32 is ``keep_fp32``: named groups (``KEEP_FP32``), or ``auto``: the logits conv
plus the fewest encoder blocks from the input with which every held-out calibration image agrees with
fp32 on at least ``target_agreement`` of its pixels (every ``CHECK_EVERY``-th image is held out of the
ranges for that choice; the model is then calibrated on all the images). The early blocks cost the
most agreement per block and, on a CPU, the least time in fp32 (bench/results/cpu_notes.md, int8).

Calibration images are plain (H, W, 3) uint8 RGB arrays from any iterable, so this module reads no
files of its own (the command gathers them from synthetic scenes, a folder or a bag).
"""

import contextlib
import itertools
import json
import logging
import os
import tempfile
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from swiftnet_ros.files import write_bytes_atomic
from swiftnet_ros.infer.metadata import read_onnx_metadata, set_onnx_metadata
from swiftnet_ros.infer.options import HOST_STRIDE4, INT8

LOGITS, RESIZE, ENCODER = "logits", "resize", "encoder"
KEEP_FP32 = (LOGITS, RESIZE, ENCODER + ":N")
"""Layer groups that may stay fp32: the final BN-ReLU-1x1 logits conv; the final bilinear resize of the
logits to the input size (graphs that end at the stride-4 logits have none); the first N encoder blocks
with the input normalisation before them."""
AUTO = "auto"
DEFAULT_KEEP_FP32 = AUTO
DEFAULT_TARGET_AGREEMENT = 0.99
CHECK_EVERY = 4
"""With ``auto``, calibration images 1, 1 + CHECK_EVERY, ... (0-based) are held out of the ranges to
measure agreement."""
MIN_AUTO_IMAGES = 2
"""``auto`` needs the first held-out image (the 2nd) and one to calibrate on."""
CALIBRATION_METHODS = ("percentile", "minmax")
PERCENTILE_TAIL = 1e-5
"""The fraction of each tensor's values above (below) its ``percentile`` range, per image: 1e-6 and
1e-4 measured no better, 1e-3 clipped too much."""
EXPORT_ARGMAX = HOST_STRIDE4
"""The export a checkpoint is quantized from: the graph ends at the stride-4 logits, so the final
resize and argmax stay exact fp32 on the host (as fast or faster than int8 in the graph, measured)."""
CALIBRATION_SEED = 2000000
"""The first synthetic calibration scene: training uses seeds 0.., validation 1000000.., the published
evaluation 424242..424291 and the benchmark 0, so calibration never sees a scene it is judged on."""

Report = Callable[[str], None]


def check_keep_fp32(keep: Sequence[str]) -> Tuple[str, ...]:
    """``keep`` as a tuple, each entry a group of ``KEEP_FP32`` (``encoder:N`` with N >= 1)."""
    bad = [k for k in keep if k not in (LOGITS, RESIZE) and _encoder_blocks_of(k) is None]
    if bad:
        raise ValueError("keep_fp32 {}: expected {!r} or some of {} (N >= 1 encoder blocks)".format(
            ", ".join(bad), AUTO, ", ".join(KEEP_FP32)))
    return tuple(keep)


def check_auto_images(count: int) -> None:
    """``auto`` holds calibration images out to measure agreement: it needs at least two."""
    if count < MIN_AUTO_IMAGES:
        raise ValueError("keep_fp32 auto measures agreement on held-out calibration images (the 2nd, then "
                         "every {}th): give at least {} images, or name the fp32 layers".format(
                             CHECK_EVERY, MIN_AUTO_IMAGES))


def _encoder_blocks_of(group: str) -> Optional[int]:
    """N of an ``encoder:N`` group, None for anything else."""
    prefix = ENCODER + ":"
    if not group.startswith(prefix) or not group[len(prefix):].isdigit() or int(group[len(prefix):]) < 1:
        return None
    return int(group[len(prefix):])


def encoder_blocks(graph: object) -> List[int]:
    """The index in ``graph.node`` of each encoder block's last node, in order. A block is a top-level
    encoder module holding a Conv (exported names ``/model/encoder/<module>/...``: a MobileNetV2
    ``features.i``, a ResNet ``conv1`` or ``layerN``); in a graph without such names, each Conv."""
    ends: List[int] = []
    module, last, has_conv = None, -1, False
    for i, node in enumerate(graph.node):
        if node.op_type == "Constant":
            continue
        parts = node.name.split("/")
        name = parts[3] if len(parts) > 4 and parts[1:3] == ["model", ENCODER] else None
        if name != module:
            if module is not None and has_conv:
                ends.append(last)
            module, has_conv = name, False
        has_conv = has_conv or node.op_type == "Conv"
        last = i
    if module is not None and has_conv:
        ends.append(last)
    return ends or [i for i, n in enumerate(graph.node) if n.op_type == "Conv"]


def fp32_nodes(graph: object, keep: Sequence[str]) -> List[str]:
    """The names of the graph's nodes in the ``keep`` groups (``KEEP_FP32``), left unquantized."""
    nodes = list(graph.node)
    convs = [n for n in nodes if n.op_type == "Conv"]
    names = []
    for group in check_keep_fp32(keep):
        if group == LOGITS and convs:
            names += [n.name for n in convs if "/logits/" in n.name] or [convs[-1].name]
        elif group == RESIZE:  # only the resize that makes the graph's output
            outputs = {o.name for o in graph.output}
            names += [n.name for n in nodes if n.op_type == "Resize" and set(n.output) & outputs]
        elif group != LOGITS:
            count, ends = _encoder_blocks_of(group), encoder_blocks(graph)
            if count > len(ends):
                raise ValueError("keep_fp32 {}: the model has {} encoder blocks".format(group, len(ends)))
            names += [n.name for n in nodes[:ends[count - 1] + 1] if n.op_type != "Constant"]
    return list(dict.fromkeys(names))


def inline_shared_weights(graph: object) -> int:
    """Replace each Identity node that forwards an initializer by a copy of that initializer under the
    Identity's output name; the number replaced. The exporter shares equal weights through Identity
    nodes (e.g. the equal zero biases of freshly initialised, BN-folded convolutions), and a conv whose
    bias is not an initializer is not fused into an int8 convolution by ONNX Runtime: it would run in
    fp32 between dequantize and quantize nodes, slower than the fp32 model (measured, cpu_notes.md)."""
    from onnx import numpy_helper

    weights = {i.name: i for i in graph.initializer}
    shared = [n for n in graph.node if n.op_type == "Identity" and n.input[0] in weights]
    for node in shared:
        graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(weights[node.input[0]]),
                                                         node.output[0]))
        graph.node.remove(node)
    return len(shared)


def _batch(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image as the model's 1 x 3 x h x w float32 input, resized as the Segmenter
    does it."""
    import torch

    from swiftnet_ros.infer.segmenter import image_to_batch

    return image_to_batch(image, True, torch.device("cpu"), size).numpy().astype(np.float32)


def _float_tensors(proto: object) -> Tuple[List[str], List[str]]:
    """(every float tensor that is a node's input or output but not a weight, those of them computed
    from the graph input by elementwise ops before any Conv: the normalised image)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in
             list(graph.value_info) + list(graph.input) + list(graph.output)}
    weights = {i.name for i in graph.initializer}
    names: Dict[str, None] = {}
    for node in graph.node:  # what ONNX Runtime's calibrators measure: Constant outputs included
        for name in list(node.input) + list(node.output):
            if name and name not in weights and types.get(name) == onnx.TensorProto.FLOAT:
                names[name] = None
    constants = weights | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    derived = {i.name for i in graph.input}
    for node in graph.node:
        inputs = [i for i in node.input if i and i not in constants]
        if node.op_type in ("Cast", "Sub", "Div", "Mul", "Add", "Identity") and inputs and \
                all(i in derived for i in inputs):
            derived.update(node.output)
    return list(names), [n for n in names if n in derived]


def _statistics_model(proto: object, tensors: Sequence[str], tail: Optional[float]) -> bytes:
    """``proto`` with two outputs per tensor: its k largest and k smallest values, sorted, k =
    ceil(tail * size) (1 without a tail)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    del graph.output[:]
    prefix = "swiftnet_stats"
    graph.initializer.extend([
        numpy_helper.from_array(np.array([-1], np.int64), prefix + "_flat"),
        numpy_helper.from_array(np.array([1], np.int64), prefix + "_one"),
        numpy_helper.from_array(np.array(tail or 0.0, np.float32), prefix + "_tail")])
    for i, name in enumerate(tensors):
        t = "{}_{}".format(prefix, i)
        flat = t + "_flat"
        nodes = [helper.make_node("Reshape", [name, prefix + "_flat"], [flat])]
        if tail is None:
            k = prefix + "_one"
        else:
            k = t + "_k"
            nodes += [helper.make_node("Size", [name], [t + "_size"]),
                      helper.make_node("Cast", [t + "_size"], [t + "_sizef"], to=TensorProto.FLOAT),
                      helper.make_node("Mul", [t + "_sizef", prefix + "_tail"], [t + "_kf"]),
                      helper.make_node("Ceil", [t + "_kf"], [t + "_kc"]),  # >= 1: size >= 1, tail > 0
                      helper.make_node("Cast", [t + "_kc"], [t + "_ki"], to=TensorProto.INT64),
                      helper.make_node("Reshape", [t + "_ki", prefix + "_one"], [k])]
        for largest, end in ((1, "_top"), (0, "_bottom")):
            nodes.append(helper.make_node("TopK", [flat, k], [t + end, t + end + "_index"], largest=largest))
            graph.output.append(helper.make_tensor_value_info(t + end, TensorProto.FLOAT, None))
        graph.node.extend(nodes)
    return model.SerializeToString()


class ActivationStatistics:
    """Per calibration image, each float tensor's min, low tail, high tail and max (``PERCENTILE_TAIL``),
    from one session run (TopK in the graph: no full activation leaves the session); ``ranges`` turns
    those of any of the images into activation ranges."""

    def __init__(self, proto: object, size: Tuple[int, int]) -> None:
        import onnxruntime

        self.tensors, inputs = _float_tensors(proto)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            _statistics_model(proto, self.tensors, PERCENTILE_TAIL), sess_options=options,
            providers=["CPUExecutionProvider"])
        self._input_name = self._session.get_inputs()[0].name
        self.per_image: List[np.ndarray] = []
        black, white = (self._extremes(np.full((1, 3) + tuple(size), value, np.float32))
                        for value in (0.0, 255.0))
        self._inputs = {}  # tensor index: the range of black and white images
        for name in inputs:
            i = self.tensors.index(name)
            self._inputs[i] = (min(black[i, 0], white[i, 0]), max(black[i, 3], white[i, 3]))

    def _extremes(self, batch: np.ndarray) -> np.ndarray:
        """(tensors, 4): min, low tail, high tail, max of each tensor for one model input."""
        values = self._session.run(None, {self._input_name: batch})
        return np.array([[bottom[0], bottom[-1], top[-1], top[0]]
                         for top, bottom in zip(values[0::2], values[1::2])], np.float64)

    def add(self, batch: np.ndarray) -> None:
        self.per_image.append(self._extremes(batch))

    def ranges(self, method: str, leave_out: Sequence[int] = ()) -> Dict[str, Tuple[float, float]]:
        """{tensor: (low, high)} over the images added, but those whose index is in ``leave_out``
        (``method``: ``CALIBRATION_METHODS``; the module docstring says how)."""
        left_out = set(leave_out)
        stats = np.stack([s for i, s in enumerate(self.per_image) if i not in left_out])
        if method == "percentile":
            low, high = stats[:, :, 1].mean(0), stats[:, :, 2].mean(0)
        else:
            low, high = stats[:, :, 0].min(0), stats[:, :, 3].max(0)
        for i, (black_white_low, black_white_high) in self._inputs.items():
            # the normalised image: its whole range, whatever the calibration images held
            low[i] = min(stats[:, i, 0].min(), black_white_low)
            high[i] = max(stats[:, i, 3].max(), black_white_high)
        return {name: (float(lo), float(hi)) for name, lo, hi in zip(self.tensors, low, high)}


def activation_ranges(proto: object, batches: Iterable[np.ndarray], method: str,
                      size: Tuple[int, int]) -> Dict[str, Tuple[float, float]]:
    """{tensor: (low, high)} for every float activation of ``proto`` over the model inputs ``batches``."""
    statistics = ActivationStatistics(proto, size)
    for batch in batches:
        statistics.add(batch)
    return statistics.ranges(method)


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


def _quantize(fp32_path: str, ranges: Dict[str, Tuple[float, float]], excluded: Sequence[str],
              folder: str) -> object:
    """The QDQ int8 ModelProto of the fp32 file with these activation ranges and fp32 nodes."""
    import inspect

    import onnx
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        TensorData,
        TensorsData,
        quantize_static,
        save_tensors_data,
    )

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise RuntimeError("onnxruntime {} cannot take activation ranges (quantize_static has no "
                           "calibration_cache_path): install requirements.txt's"
                           .format(onnxruntime.__version__))
    cache, int8_path = os.path.join(folder, "ranges.json"), os.path.join(folder, "int8.onnx")
    data = {name: TensorData(lowest=np.float32(low), highest=np.float32(high))
            for name, (low, high) in ranges.items()}
    save_tensors_data(TensorsData(CalibrationMethod.MinMax, data), cache)
    with _quiet_root_logger():
        quantize_static(fp32_path, int8_path, None, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=list(excluded), calibrate_method=CalibrationMethod.MinMax,
                        calibration_cache_path=cache)
    quantized = onnx.load(int8_path)
    os.remove(cache)
    os.remove(int8_path)
    return quantized


def _agreements(model: object, batches: Sequence[np.ndarray], reference: Sequence[object]) -> List[float]:
    """Per batch, the fraction of the model's labels equal to ``reference`` (labels of the same batches).
    A candidate still carries the fp32 metadata, so the backend runs it as such."""
    import torch

    from swiftnet_ros.infer.backend_onnxruntime import OnnxRuntimeBackend
    from swiftnet_ros.infer.postprocess import label_agreement

    backend = OnnxRuntimeBackend(model, torch.device("cpu"))
    return [label_agreement(backend.labels(torch.from_numpy(batch)), labels)
            for batch, labels in zip(batches, reference)]


def _choose_fp32_layers(proto: object, fp32_path: str, ranges: Dict[str, Tuple[float, float]],
                        check: Sequence[np.ndarray], target: float, folder: str,
                        report: Report) -> Tuple[Tuple[str, ...], Dict[str, object]]:
    """(fp32 groups, what was measured) for ``auto``: the logits conv plus the first k
    encoder blocks, k the fewest with which every check image agrees >= target. k = 0 first, then the
    whole encoder, then bisection between them (agreement grows with k, measured), so at most
    2 + log2(blocks) quantizations; if even the whole encoder misses, the better of those two."""
    import torch

    from swiftnet_ros.infer.backend_onnxruntime import OnnxRuntimeBackend

    fp32 = OnnxRuntimeBackend(fp32_path, torch.device("cpu"))
    reference = [fp32.labels(torch.from_numpy(b)) for b in check]
    del fp32
    measured: Dict[int, Tuple[Tuple[str, ...], Dict[str, object]]] = {}

    def meets(blocks: int) -> bool:
        keep = (LOGITS,) + (("{}:{}".format(ENCODER, blocks),) if blocks else ())
        quantized = _quantize(fp32_path, ranges, fp32_nodes(proto.graph, keep), folder)
        agreement = _agreements(quantized.SerializeToString(), check, reference)
        worst, mean = min(agreement), float(np.mean(agreement))
        measured[blocks] = (keep, {"fp32_layers": list(keep), "worst": round(worst, 6),
                                   "mean": round(mean, 6)})
        report("fp32 {}: agreement with fp32 worst {:.2%}, mean {:.2%} ({} held-out images)".format(
            ", ".join(keep), worst, mean, len(check)))
        return worst >= target

    low, high = 0, len(encoder_blocks(proto.graph))
    if meets(low):
        high = low
    elif meets(high):
        while high - low > 1:  # low misses, high meets
            middle = (low + high) // 2
            if meets(middle):
                high = middle
            else:
                low = middle
    else:
        high = max(measured, key=lambda k: measured[k][1]["worst"])
    keep, chosen = measured[high]
    return keep, {"target_agreement": target, "met": chosen["worst"] >= target,
                  "check_agreement": {"worst": chosen["worst"], "mean": chosen["mean"]},
                  "tried": [m[1] for m in measured.values()]}


def quantize_onnx(model: object, images: Iterable[np.ndarray],
                  keep_fp32: Union[str, Sequence[str]] = DEFAULT_KEEP_FP32, method: str = "percentile",
                  path: Optional[str] = None, calibration: str = "",
                  target_agreement: float = DEFAULT_TARGET_AGREEMENT,
                  report: Optional[Report] = None) -> bytes:
    """The int8 QDQ version of an fp32 swiftnet_ros ONNX model (path or bytes), calibrated on
    ``images`` ((H, W, 3) uint8 RGB, any size: resized to the model's); written atomically to
    ``path`` if given. ``keep_fp32``: ``AUTO`` or groups of ``KEEP_FP32``; ``calibration`` describes
    the images for the metadata; ``report`` gets a line per layer choice ``auto`` measures."""
    import onnx

    auto = isinstance(keep_fp32, str) and keep_fp32 == AUTO
    keep = () if auto else check_keep_fp32([keep_fp32] if isinstance(keep_fp32, str) else keep_fp32)
    if method not in CALIBRATION_METHODS:
        raise ValueError("calibration method {!r}: expected one of {}".format(
            method, ", ".join(CALIBRATION_METHODS)))
    if auto and not 0 < target_agreement <= 1:
        raise ValueError("target agreement {}: expected a fraction in (0, 1]".format(target_agreement))
    source = model if isinstance(model, str) else "ONNX model"
    meta = read_onnx_metadata(model)  # a corrupt or foreign file fails here, in one line
    if meta["precision"] != "fp32":
        raise ValueError("{} is {}: int8 quantization starts from an fp32 export"
                         .format(source, meta["precision"]))
    proto = onnx.load(model) if isinstance(model, str) else onnx.load_from_string(bytes(model))
    inline_shared_weights(proto.graph)
    excluded = fp32_nodes(proto.graph, keep)  # an encoder:N the model lacks fails before calibration
    size = meta["input_size"]
    images = iter(images)
    first = next(images, None)
    if first is None:
        raise ValueError("no calibration images: int8 quantization needs at least one")
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # not one warning per folded constant
    statistics = ActivationStatistics(proto, size)
    check: List[np.ndarray] = []
    held_out: List[int] = []
    for i, image in enumerate(itertools.chain([first], images)):
        batch = _batch(image, size)
        statistics.add(batch)
        if auto and i % CHECK_EVERY == 1:
            check.append(batch)
            held_out.append(i)
    count = len(statistics.per_image)
    if auto:
        check_auto_images(count)
    info = {"format": "QDQ", "activations": "uint8 per tensor", "weights": "int8 per channel",
            "calibration": calibration or "{} images".format(count), "images": count, "method": method}
    if method == "percentile":
        info["percentile_tail"] = PERCENTILE_TAIL
    with tempfile.TemporaryDirectory(prefix="swiftnet_quantize_") as folder:
        fp32_path = os.path.join(folder, "fp32.onnx")
        onnx.save(proto, fp32_path)
        if auto:  # chosen with ranges from the other images; the model itself is calibrated on all
            keep, search = _choose_fp32_layers(proto, fp32_path, statistics.ranges(method, held_out), check,
                                               target_agreement, folder, report or (lambda line: None))
            info.update({"fp32_choice": AUTO, "check_images": len(check)}, **search)
            excluded = fp32_nodes(proto.graph, keep)
        else:
            info["fp32_choice"] = "given"
        quantized = _quantize(fp32_path, statistics.ranges(method), excluded, folder)
    info["fp32_layers"] = list(keep)
    props = {p.key: p.value for p in proto.metadata_props}
    props["precision"] = INT8
    props["quantization"] = json.dumps(info, sort_keys=True)
    set_onnx_metadata(quantized, props)
    quantized.producer_name = proto.producer_name
    onnx.checker.check_model(quantized)
    data = quantized.SerializeToString()
    if path is not None:
        write_bytes_atomic(path, data)
    return data


def quantization_info(model: object) -> Dict[str, object]:
    """The ``quantization`` entry of an int8 file (path or bytes) from ``quantize_onnx``."""
    import onnx

    proto = onnx.load(model) if isinstance(model, str) else onnx.load_from_string(bytes(model))
    props = {p.key: p.value for p in proto.metadata_props}
    if "quantization" not in props:
        raise ValueError("{} has no quantization entry: not made by swiftnet-ros quantize".format(
            model if isinstance(model, str) else "ONNX model"))
    return json.loads(props["quantization"])
