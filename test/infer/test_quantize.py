"""int8 quantization (infer/quantize.py): QDQ graph, int8 metadata, activation ranges, fp32 layers
(named and auto), agreement, errors, and running the int8 file through the Segmenter (onnxruntime
only)."""

import json

import numpy as np
import onnx
import pytest
import torch

from swiftnet_ros.infer.export import export_onnx
from swiftnet_ros.infer.metadata import read_onnx_metadata
from swiftnet_ros.infer.options import HOST_STRIDE4
from swiftnet_ros.infer.quantize import (
    ActivationStatistics,
    activation_ranges,
    encoder_blocks,
    fp32_nodes,
    inline_shared_weights,
    quantization_info,
    quantize_onnx,
)
from swiftnet_ros.infer.registry import run_precision
from swiftnet_ros.infer.segmenter import Segmenter
from swiftnet_ros.model import build_model

H, W = 64, 96
CLASSES = ["road", "car", "sky"]
PALETTE = [[128, 64, 128], [0, 0, 142], [70, 130, 180]]

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.modern_stack]  # quantization is offline tooling; ONNX Runtime 1.10's API differs


def scene(seed: int) -> np.ndarray:
    """A blocky image whose classes a random model separates by colour, deterministic per seed."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((H // 4, W // 6, 1), np.uint8))


@pytest.fixture(scope="module")
def fp32_onnx():
    torch.manual_seed(3)
    model = build_model("rn18", num_classes=3).eval()
    return export_onnx(model, (H, W), CLASSES, PALETTE)


@pytest.fixture(scope="module")
def int8_file(fp32_onnx, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("q") / "m_int8.onnx")
    data = quantize_onnx(fp32_onnx, (scene(s) for s in range(8)), path=path, calibration="blocks 0..7",
                         keep_fp32=("logits",))
    return path, data


@pytest.fixture(scope="module")
def stride4_onnx():
    torch.manual_seed(5)
    model = build_model("mnv2", num_classes=3).eval()
    return export_onnx(model, (H, W), CLASSES, PALETTE, argmax=HOST_STRIDE4)


def test_quantized_graph_is_qdq_int8_and_self_describing(fp32_onnx, int8_file):
    path, data = int8_file
    assert open(path, "rb").read() == data
    proto = onnx.load(path)
    ops = [n.op_type for n in proto.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    int8_weights = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) > 10
    per_channel = [t for t in proto.graph.initializer if t.name.endswith("_scale") and len(t.dims) == 1]
    assert per_channel, "weights are quantized per output channel"
    meta, fp32_meta = read_onnx_metadata(path), read_onnx_metadata(fp32_onnx)
    assert meta["precision"] == "int8"
    assert {k: v for k, v in meta.items() if k != "precision"} == \
        {k: v for k, v in fp32_meta.items() if k != "precision"}
    props = {p.key: p.value for p in proto.metadata_props}
    info = json.loads(props["quantization"])
    assert info == quantization_info(path)
    assert info["images"] == 8 and info["calibration"] == "blocks 0..7" and info["fp32_layers"] == ["logits"]
    assert info["method"] == "percentile" and info["fp32_choice"] == "given"
    with pytest.raises(ValueError, match="no quantization entry"):
        quantization_info(fp32_onnx)


def test_logits_conv_stays_fp32(int8_file):
    proto = onnx.load(int8_file[0])
    logits = [n for n in proto.graph.node if n.op_type == "Conv" and "/logits/" in n.name]
    assert len(logits) == 1
    weight = {t.name: t for t in proto.graph.initializer}[logits[0].input[1]]
    assert weight.data_type == onnx.TensorProto.FLOAT
    assert fp32_nodes(proto.graph, ()) == []


def test_every_quantized_conv_runs_as_an_int8_kernel(fp32_onnx, int8_file, tmp_path):
    """Freshly initialised BN-folded convs share their zero biases through Identity nodes in the export;
    ONNX Runtime fuses a conv into QLinearConv only where its bias is an initializer."""
    import onnxruntime

    fp32 = onnx.load_from_string(fp32_onnx)
    weights = {t.name for t in fp32.graph.initializer}
    assert any(n.op_type == "Identity" and n.input[0] in weights for n in fp32.graph.node)
    convs = sum(n.op_type == "Conv" for n in fp32.graph.node)
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    onnxruntime.InferenceSession(int8_file[0], options, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
    assert ops.count("QLinearConv") == convs - 1  # all but the fp32 logits conv
    assert inline_shared_weights(onnx.load(int8_file[0]).graph) == 0


def test_int8_agrees_with_fp32_and_runs_through_the_segmenter(fp32_onnx, int8_file, tmp_path):
    fp32_path = str(tmp_path / "m.onnx")
    open(fp32_path, "wb").write(fp32_onnx)
    int8 = Segmenter(int8_file[0], device="cpu", warmup=0)  # precision fp32 (the default) runs it as int8
    fp32 = Segmenter(fp32_path, device="cpu", warmup=0)
    assert int8.backend_name == "onnxruntime" and int8.precision == "int8" and "int8" in int8.describe()
    agreement = np.mean([(int8.segment(scene(s)).labels == fp32.segment(scene(s)).labels).mean()
                         for s in range(100, 104)])
    assert agreement > 0.95


def test_int8_is_refused_where_it_cannot_run(fp32_onnx, int8_file, tmp_path):
    with pytest.raises(ValueError, match="not offered by the torch backend"):
        run_precision("torch", "checkpoint", "int8")
    with pytest.raises(ValueError, match="not offered by the tensorrt backend"):
        run_precision("tensorrt", "onnx", "fp32", "int8")
    with pytest.raises(ValueError, match="needs an int8 ONNX file.*swiftnet-ros quantize"):
        run_precision("onnxruntime", "checkpoint", "int8")
    with pytest.raises(ValueError, match="needs an int8 ONNX file, not an fp32 ONNX file"):
        run_precision("onnxruntime", "onnx", "int8", "fp32")
    with pytest.raises(ValueError, match="precision 'fp16'"):
        Segmenter(int8_file[0], device="cpu", precision="fp16")
    assert run_precision("onnxruntime", "onnx", "fp32", "int8") == "int8"


def test_bad_inputs_write_nothing(fp32_onnx, int8_file, tmp_path):
    out = tmp_path / "out.onnx"
    with pytest.raises(ValueError, match="no calibration images"):
        quantize_onnx(fp32_onnx, iter(()), path=str(out))
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        quantize_onnx(b"not an onnx file", [scene(0)], path=str(out))
    with pytest.raises(ValueError, match="is int8: int8 quantization starts from an fp32 export"):
        quantize_onnx(int8_file[0], [scene(0)], path=str(out))
    with pytest.raises(ValueError, match="keep_fp32 head: expected 'auto' or some of logits, resize"):
        quantize_onnx(fp32_onnx, [scene(0)], keep_fp32=("head",), path=str(out))
    with pytest.raises(ValueError, match="keep_fp32 encoder:0: expected"):
        quantize_onnx(fp32_onnx, [scene(0)], keep_fp32=("encoder:0",), path=str(out))
    with pytest.raises(ValueError, match="keep_fp32 encoder:6: the model has 5 encoder blocks"):
        quantize_onnx(fp32_onnx, [scene(0)], keep_fp32=("encoder:6",), path=str(out))
    with pytest.raises(ValueError, match="calibration method 'entropy'"):
        quantize_onnx(fp32_onnx, [scene(0)], method="entropy", path=str(out))
    with pytest.raises(ValueError, match="target agreement 1.5"):
        quantize_onnx(fp32_onnx, [scene(0)], target_agreement=1.5, path=str(out))
    with pytest.raises(ValueError, match="auto measures agreement on held-out .* at least 2 images"):
        quantize_onnx(fp32_onnx, [scene(0)], path=str(out))
    assert list(tmp_path.iterdir()) == []


def test_the_quantizers_root_logger_warnings_are_kept_quiet(fp32_onnx, caplog):
    import logging

    handlers, level = list(logging.getLogger().handlers), logging.getLogger().level
    with caplog.at_level(logging.WARNING):
        quantize_onnx(fp32_onnx, [scene(0)], keep_fp32=("logits",))
    assert not [r for r in caplog.records if r.name == "root"], [r.getMessage() for r in caplog.records]
    assert logging.getLogger().handlers == handlers and logging.getLogger().level == level


def test_fp32_groups_name_the_nodes_they_keep(fp32_onnx, stride4_onnx):
    graph = onnx.load_from_string(fp32_onnx).graph
    names = [n.name for n in graph.node]
    ends = encoder_blocks(graph)  # ResNet-18: conv1, layer1 .. layer4
    assert [names[i].split("/")[3] for i in ends] == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    stem = fp32_nodes(graph, ["encoder:1"])
    assert stem[-1] == "/model/encoder/conv1/Conv" and "/model/Div" in stem
    assert all("/layer1/" not in n for n in stem)
    two = fp32_nodes(graph, ["encoder:2"])
    assert set(stem) < set(two) and two[-1].startswith("/model/encoder/layer1/")
    assert fp32_nodes(graph, ["resize"]) == [n.name for n in graph.node if n.op_type == "Resize"][-1:]
    assert fp32_nodes(graph, ["logits", "logits"]) == ["/model/logits/conv/Conv"]
    mnv2 = onnx.load_from_string(stride4_onnx).graph  # MobileNetV2: features.0 .. features.17
    assert len(encoder_blocks(mnv2)) == 18
    assert fp32_nodes(mnv2, ["resize"]) == []  # a stride-4 graph ends before the final resize


def test_ranges_percentile_inside_minmax_and_the_input_whole(fp32_onnx):
    proto = onnx.load_from_string(fp32_onnx)
    gray = [np.full((H, W, 3), 128, np.uint8), scene(1)]
    batches = [image.transpose(2, 0, 1)[None].astype(np.float32) for image in gray]
    minmax = activation_ranges(proto, batches, "minmax", (H, W))
    percentile = activation_ranges(proto, batches, "percentile", (H, W))
    assert minmax.keys() == percentile.keys()
    for name, (low, high) in percentile.items():
        assert minmax[name][0] <= low <= high <= minmax[name][1], name
    assert any(percentile[n] != minmax[n] for n in minmax)
    config = read_onnx_metadata(fp32_onnx)["config"]
    mean, std = np.array(config["mean"]), np.array(config["std"])
    whole = (float((-mean / std).min()), float(((255 - mean) / std).max()))
    for ranges in (minmax, percentile):  # black and white pixels, though no calibration image had them
        assert ranges["/model/Div_output_0"] == pytest.approx(whole, rel=1e-5)
    statistics = ActivationStatistics(proto, (H, W))  # one pass, ranges of any of its images
    for batch in batches:
        statistics.add(batch)
    assert statistics.ranges("minmax") == minmax and statistics.ranges("percentile") == percentile
    gray_only = activation_ranges(proto, batches[:1], "minmax", (H, W))
    assert statistics.ranges("minmax", leave_out=[1]) == gray_only != minmax


def test_auto_keeps_the_fewest_encoder_blocks_that_meet_the_target(stride4_onnx, fp32_onnx):
    images = [scene(s) for s in range(6)]  # images 1 and 5 are held out
    lines = []
    data = quantize_onnx(stride4_onnx, images, target_agreement=0.01, report=lines.append)
    info = quantization_info(data)
    assert info["fp32_choice"] == "auto" and info["fp32_layers"] == ["logits"] and info["met"]
    assert info["images"] == 6 and info["check_images"] == 2 and len(info["tried"]) == 1 == len(lines)
    assert "fp32 logits: agreement with fp32 worst" in lines[0] and "2 held-out images" in lines[0]
    unreachable = quantization_info(quantize_onnx(fp32_onnx, images, target_agreement=1.0))
    blocks = {("logits",): 0, **{("logits", "encoder:{}".format(k)): k for k in range(1, 6)}}
    tried = {blocks[tuple(t["fp32_layers"])]: t for t in unreachable["tried"]}  # in the order measured
    assert list(tried)[:2] == [0, 5]  # none, then the whole encoder (5 ResNet blocks), then bisection
    chosen = blocks[tuple(unreachable["fp32_layers"])]
    if unreachable["met"]:  # the fewest blocks measured to meet it
        assert tried[chosen]["worst"] == 1.0 and all(t["worst"] < 1.0 for k, t in tried.items() if k < chosen)
    else:  # even the whole encoder misses: the better of the two kept
        assert list(tried) == [0, 5] and tried[chosen]["worst"] == max(t["worst"] for t in tried.values())
        worst, mean = tried[chosen]["worst"], tried[chosen]["mean"]
        assert unreachable["check_agreement"] == {"worst": worst, "mean": mean}
