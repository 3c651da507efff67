"""The ONNX export that stops at the stride-4 logits (``--argmax host_stride4``): its labels, scores and
confidence through onnxruntime equal the full-resolution export's and the torch backend's; metadata,
evaluation (OnnxModule), int8 quantization, the export CLI, the CPU export default; ONNX Runtime's
thread-pool spinning switch."""

import onnx
import pytest
import torch
import torch.nn as nn
from model_helpers import randomise_bn

from swiftnet_ros.commands.main import main
from swiftnet_ros.infer.backend import StaticGraphBackend
from swiftnet_ros.infer.backend_onnxruntime import SPINNING_KEY, OnnxModule, OnnxRuntimeBackend
from swiftnet_ros.infer.backend_torch import TorchBackend
from swiftnet_ros.infer.export import export_onnx
from swiftnet_ros.infer.metadata import (
    decode_metadata,
    encode_metadata,
    read_onnx_metadata,
    set_onnx_metadata,
)
from swiftnet_ros.infer.options import ARGMAX_MODES, HOST_STRIDE4, OnnxRuntimeOptions, TensorRTOptions
from swiftnet_ros.infer.postprocess import labels_and_confidence
from swiftnet_ros.infer.registry import BuildContext, build_backend, check_options, parse_backend_token
from swiftnet_ros.model import build_model, save_checkpoint

CPU = torch.device("cpu")
CLASSES = ["road", "car", "sky", "person", "pole"]
PALETTE = [[128, 64, 128], [0, 0, 142], [70, 130, 180], [220, 20, 60], [153, 153, 153]]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models():
    """A bilinear and a nearest (the Jetson TX2's) model, 5 classes."""
    torch.manual_seed(0)
    return {"rn18": randomise_bn(build_model("rn18", num_classes=5)).eval(),
            "jetson-tx2": randomise_bn(build_model("jetson-tx2", num_classes=5)).eval()}


def image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth blobs, so that the labels have regions and boundaries, as a real image's do."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 5, generator=g) * 255
    return nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def export(model: nn.Module, size: tuple, argmax: str, **kwargs: object) -> bytes:
    return export_onnx(model, size, CLASSES, PALETTE, argmax=argmax, **kwargs)


@pytest.mark.parametrize("preset", ["rn18", "jetson-tx2"])
@pytest.mark.parametrize("size", [(64, 128), (72, 100)])
def test_stride4_graph_gives_the_labels_scores_and_confidence_of_the_full_graph(models, preset, size):
    model = models[preset]
    stride4 = OnnxRuntimeBackend(export(model, size, HOST_STRIDE4), CPU, threads=1)
    full = OnnxRuntimeBackend(export(model, size, "host"), CPU, threads=1)
    torch_backend = TorchBackend(model, CPU)
    assert stride4.upsample == model.config.upsample and full.upsample is None
    assert stride4.num_classes == full.num_classes == 5 and stride4.fixed_size == full.fixed_size == size
    with torch.no_grad():
        assert stride4.out_shape == tuple(model(image(*size), full_resolution=False).shape)
    for seed in range(2):
        x = image(*size, seed)
        labels = stride4.labels(x)
        assert labels.dtype == torch.uint8 and labels.shape == (1,) + size
        for other in (full.labels(x), torch_backend.labels(x)):
            assert (labels == other).float().mean() >= 0.9995  # equal up to float ties
        scores, reference = stride4.logits(x), full.logits(x)
        assert scores.shape == (1, 5) + size and scores.dtype == torch.float32
        torch.testing.assert_close(scores, reference, rtol=1e-4, atol=1e-4 * float(reference.abs().max()))
        # logits are a copy: the next call does not overwrite them
        again = scores.clone()
        stride4.labels(image(*size, 9))
        assert torch.equal(scores, again)
        conf_labels, confidence = stride4.labels_confidence(x)
        full_labels, full_confidence = full.labels_confidence(x)
        assert (conf_labels == labels).float().mean() >= 0.9995
        assert (confidence.int() - full_confidence.int()).abs().max() <= 1
        assert torch.equal(confidence, labels_and_confidence(scores)[1])


def test_stride4_export_metadata_and_graph(models, tmp_path):
    model = models["jetson-tx2"]
    path = str(tmp_path / "s4.onnx")
    data = export(model, (72, 100), HOST_STRIDE4, path=path)
    info = read_onnx_metadata(path)
    assert info == read_onnx_metadata(data)
    assert info["output"] == "logits_stride4" and info["upsample"] == "nearest"
    assert info["input_size"] == (72, 100)
    proto = onnx.load(path)
    assert [o.name for o in proto.graph.output] == ["logits_stride4"]
    with torch.no_grad():
        expected = list(model(image(72, 100), full_resolution=False).shape)
    assert [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim] == expected
    props = encode_metadata("m", CLASSES, PALETTE, (72, 100), "bilinear", "logits_stride4", "fp32")
    assert decode_metadata(props)["output"] == "logits_stride4"
    with pytest.raises(ValueError, match="output kind 'probabilities', expected one of logits, labels, "
                                         "logits_stride4"):
        decode_metadata(dict(props, output="probabilities"))


def test_a_stride4_graph_without_swiftnet_metadata_is_taken_as_it_is(models):
    proto = onnx.load_from_string(export(models["rn18"], (64, 128), HOST_STRIDE4))
    set_onnx_metadata(proto, {})
    plain = OnnxRuntimeBackend(proto.SerializeToString(), CPU, threads=1)
    assert plain.upsample is None and plain.labels(image(64, 128)).shape == (1, 16, 32)


def test_static_graph_backend_checks_its_upsample_mode():
    with pytest.raises(ValueError, match="upsample 'bicubic': expected the model's resize mode"):
        StaticGraphBackend(CPU, "fp32", 5, (8, 8), upsample="bicubic")
    with pytest.raises(ValueError, match="ends in an argmax: it has no stride-4 logits"):
        StaticGraphBackend(CPU, "fp32", -1, (8, 8), outputs_labels=True, upsample="nearest")


def test_evaluation_runs_a_stride4_export(models, tmp_path):
    model = models["rn18"]
    path = str(tmp_path / "s4.onnx")
    export(model, (64, 128), HOST_STRIDE4, path=path)
    module = OnnxModule(path, threads=1)
    batch = torch.cat([image(64, 128, 1), image(64, 128, 2)])
    with torch.no_grad():
        scores, reference = module(batch), model(batch)
    assert scores.shape == (2, 5, 64, 128) and module.meta["output"] == "logits_stride4"
    torch.testing.assert_close(scores, reference, rtol=1e-3, atol=1e-3 * float(reference.abs().max()))
    export(model, (64, 128), "in_graph", path=str(tmp_path / "labels.onnx"))
    with pytest.raises(ValueError, match="ends in an argmax"):
        OnnxModule(str(tmp_path / "labels.onnx"))


@pytest.mark.modern_stack  # quantization is offline tooling; ONNX Runtime 1.10's API differs
def test_int8_quantization_of_a_stride4_export(models):
    from swiftnet_ros.infer.quantize import quantize_onnx

    model = models["rn18"]
    fp32 = export(model, (64, 128), HOST_STRIDE4)
    scenes = [(image(64, 128, s)[0].permute(1, 2, 0).round().byte().numpy()) for s in range(4)]
    int8 = quantize_onnx(fp32, scenes)
    meta = read_onnx_metadata(int8)
    assert meta["precision"] == "int8" and meta["output"] == "logits_stride4"
    backend = OnnxRuntimeBackend(int8, CPU, "int8", threads=1)
    assert backend.upsample == "bilinear"
    x = image(64, 128, 7)
    assert backend.labels(x).shape == (1, 64, 128) and backend.logits(x).shape == (1, 5, 64, 128)
    reference = OnnxRuntimeBackend(fp32, CPU, threads=1).labels(x)
    assert (backend.labels(x) == reference).float().mean() > 0.9


def test_spinning_is_off_by_default_and_reaches_the_session(models):
    data = export(models["rn18"], (64, 128), HOST_STRIDE4)
    quiet, spinning = OnnxRuntimeBackend(data, CPU, threads=1), OnnxRuntimeBackend(data, CPU, threads=1,
                                                                                    spinning=True)
    assert not quiet.options.spinning and spinning.options.spinning
    assert "no spinning" in quiet.describe() and "no spinning" not in spinning.describe()
    options = quiet.session.get_session_options()
    if hasattr(options, "get_session_config_entry"):
        assert options.get_session_config_entry(SPINNING_KEY) == "0"
        assert spinning.session.get_session_options().get_session_config_entry(SPINNING_KEY) == "1"
    with pytest.raises(ValueError, match="onnxruntime backend option spinning must be true or false"):
        OnnxRuntimeOptions(spinning="no")
    assert parse_backend_token("onnxruntime+spinning") == ("onnxruntime", {"spinning": True})
    assert check_options("onnxruntime", {"argmax": HOST_STRIDE4}) == {"argmax": HOST_STRIDE4}
    with pytest.raises(ValueError, match="argmax 'host_stride4' is for onnxruntime; the tensorrt backend"):
        TensorRTOptions(argmax=HOST_STRIDE4)


def test_the_cpu_export_for_a_checkpoint_stops_at_stride4_unless_asked(models, tmp_path):
    model = models["jetson-tx2"]
    exports = []

    def exporter(size, **options):
        exports.append(options["argmax"])
        return export(model, size, **options)

    context = BuildContext("jetson-tx2", "preset", CPU, "fp32", model=model, export=exporter,
                           engine_cache_dir=str(tmp_path))
    default = build_backend("onnxruntime", context, {"threads": 1}, (64, 96))
    host = build_backend("onnxruntime", context, {"threads": 1, "argmax": "host"}, (64, 96))
    assert exports == [HOST_STRIDE4, "host"]
    assert default.upsample == "nearest" and host.upsample is None
    names = sorted(p.name for p in (tmp_path / "onnx").iterdir())
    assert len(names) == 2 and any("_host_stride4_" in n for n in names)
    x = image(64, 96, 3)
    assert torch.equal(default.labels(x), host.labels(x))  # nearest: the argmax commutes with the resize


def test_export_cli_host_stride4(models, tmp_path, capsys):
    assert HOST_STRIDE4 in ARGMAX_MODES
    checkpoint = str(tmp_path / "tx2.pt")
    save_checkpoint(checkpoint, models["jetson-tx2"], CLASSES, PALETTE)
    out = str(tmp_path / "s4.onnx")
    args = ["export", "--weights", checkpoint, "--size", "100x72", "-o", out]
    assert main(args + ["--argmax", HOST_STRIDE4]) == 0
    assert "argmax host_stride4" in capsys.readouterr().out
    info = read_onnx_metadata(out)
    assert info["output"] == "logits_stride4" and info["input_size"] == (72, 100)
    with pytest.raises(SystemExit):
        main(args + ["--argmax", "gpu"])
    assert "host_stride4" in capsys.readouterr().err  # argparse lists the choices
    assert main(args) == 0
    assert read_onnx_metadata(out)["output"] == "logits"  # the command's default stays host (TensorRT)
