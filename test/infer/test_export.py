"""ONNX export: self-describing metadata, round trip through onnxruntime, the CLI, atomic writes."""

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from swiftnet_ros.commands.main import main
from swiftnet_ros.files import write_bytes_atomic
from swiftnet_ros.infer.export import cpu_has_fp16_kernels, export_onnx
from swiftnet_ros.infer.metadata import decode_metadata, encode_metadata, read_onnx_metadata
from swiftnet_ros.infer.weights import load_torch_weights
from swiftnet_ros.model import build_model, save_checkpoint
from swiftnet_ros.sizes import parse_size

H, W = 64, 96
CLASSES = ["road", "car", "sky"]
PALETTE = [[128, 64, 128], [0, 0, 142], [70, 130, 180]]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(5)
    model = build_model("jetson-tx2", num_classes=3)
    for m in model.modules():  # trained-looking BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 1.5)
            m.running_mean.uniform_(-0.2, 0.2)
    path = str(tmp_path_factory.mktemp("ckpt") / "tx2.pt")
    save_checkpoint(path, model, CLASSES, PALETTE)
    return path


def run_onnx(data: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_export_round_trip_metadata_and_agreement(checkpoint, tmp_path):
    model, meta = load_torch_weights(checkpoint)
    path = str(tmp_path / "tx2.onnx")
    data = export_onnx(model, (H, W), meta["class_names"], meta["palette"], path=path)
    assert open(path, "rb").read() == data
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    info = read_onnx_metadata(path)
    assert info["class_names"] == CLASSES and info["palette"] == PALETTE
    assert info["input_size"] == (H, W) and info["upsample"] == "nearest"
    assert info["output"] == "logits" and info["precision"] == "fp32" and info["model_name"] == "jetson-tx2"
    assert info["config"]["num_classes"] == 3 and info["config"]["upsample"] == "nearest"
    assert read_onnx_metadata(data) == info
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [1, 3, H, W]
    x = torch.rand(2, 1, 3, H, W, generator=torch.Generator().manual_seed(0)) * 255
    for batch in x:
        with torch.no_grad():
            expected = model(batch)
        out = run_onnx(data, batch.numpy())
        assert out.shape == (1, 3, H, W)
        np.testing.assert_allclose(out, expected.numpy(), rtol=1e-3, atol=1e-3 * float(expected.abs().max()))
        assert (out.argmax(1) == expected.argmax(1).numpy()).mean() >= 0.999


def test_export_in_graph_argmax_and_fp16(checkpoint):
    model, meta = load_torch_weights(checkpoint)
    x = (torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(1)) * 255)
    with torch.no_grad():
        expected = model(x).argmax(1).numpy()
    labels = run_onnx(export_onnx(model, (H, W), CLASSES, PALETTE, argmax="in_graph"), x.numpy())
    assert labels.dtype == np.int32 and labels.shape == (1, H, W)
    assert (labels == expected).mean() >= 0.999
    if not torch.cuda.is_available() and not cpu_has_fp16_kernels():  # PyTorch 1.10 on a CPU
        with pytest.raises(ValueError, match=r"fp16 export .* PyTorch 1\.10.* has none on the CPU"):
            export_onnx(model, (H, W), CLASSES, PALETTE, fp16=True)
        return
    half = export_onnx(model, (H, W), CLASSES, PALETTE, fp16=True)
    assert read_onnx_metadata(half)["precision"] == "fp16"
    assert onnx.load_from_string(half).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    out = run_onnx(half, x.numpy().astype(np.float16))
    assert out.dtype == np.float16 and (out.astype(np.float32).argmax(1) == expected).mean() >= 0.99


def test_export_refuses_bad_arguments(checkpoint):
    model, meta = load_torch_weights(checkpoint)
    with pytest.raises(ValueError, match="argmax 'gpu'"):
        export_onnx(model, (H, W), CLASSES, PALETTE, argmax="gpu")
    with pytest.raises(ValueError, match="opset 9: expected an integer >= 11"):
        export_onnx(model, (H, W), CLASSES, PALETTE, opset=9)
    with pytest.raises(ValueError, match="input_size must be"):
        export_onnx(model, (H,), CLASSES, PALETTE)
    with pytest.raises(ValueError, match="palette has 2 colours but there are 3 class names"):
        export_onnx(model, (H, W), CLASSES, PALETTE[:2])
    with pytest.raises(ValueError, match="expected a SwiftNet model"):
        export_onnx(torch.nn.Conv2d(3, 3, 1), (H, W), CLASSES, PALETTE)


def test_parse_size_is_width_by_height():
    assert parse_size("1024x512") == (512, 1024)
    assert parse_size("96X64") == (64, 96)
    for bad in ("1024", "axb", "0x5", "1x2x3"):
        with pytest.raises(ValueError, match="expected WIDTHxHEIGHT|must be positive"):
            parse_size(bad)


def test_metadata_decode_errors():
    props = encode_metadata("m", CLASSES, PALETTE, (H, W), "bilinear", "logits", "fp32")
    assert decode_metadata(props)["class_names"] == CLASSES
    with pytest.raises(ValueError, match="no swiftnet_ros metadata"):
        decode_metadata({})
    with pytest.raises(ValueError, match="broken swiftnet_ros metadata"):
        decode_metadata(dict(props, input_size="[64]"))
    with pytest.raises(ValueError, match="output must be one of"):
        encode_metadata("m", CLASSES, PALETTE, (H, W), "bilinear", "probs", "fp32")
    with pytest.raises(FileNotFoundError, match="ONNX file 'nope.onnx' not found"):
        read_onnx_metadata("nope.onnx")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "dir_in_the_way"
    target.mkdir()
    (target / "x").write_text("occupied")
    with pytest.raises(OSError):
        write_bytes_atomic(str(target), b"data")  # cannot replace a non-empty folder
    assert sorted(os.listdir(str(tmp_path))) == ["dir_in_the_way"]
    write_bytes_atomic(str(tmp_path / "new" / "f.bin"), b"data")
    assert (tmp_path / "new" / "f.bin").read_bytes() == b"data"
    assert os.listdir(str(tmp_path / "new")) == ["f.bin"]


def test_export_cli(checkpoint, tmp_path, capsys):
    out = str(tmp_path / "cli.onnx")
    args = ["export", "--weights", checkpoint, "--size", "96x64", "--argmax", "in_graph", "-o", out]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    info = read_onnx_metadata(out)
    assert info["input_size"] == (64, 96) and info["output"] == "labels"
    # the Jetson preset carries its deployment size (1024x512); no --size needed
    assert main(["export", "--weights", checkpoint, "--opset", "13", "-o", out]) == 0
    assert read_onnx_metadata(out)["input_size"] == (512, 1024)
    capsys.readouterr()
    assert main(["export", "--weights", str(tmp_path / "missing.pt"), "--size", "96x64", "-o", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("swiftnet-ros export: error: weights") and "not found" in err and "\n" not in err
    assert main(["export", "--weights", "rn18", "-o", str(tmp_path / "x.onnx")]) == 2
    assert "--size is required" in capsys.readouterr().err
    assert main(["export", "--weights", "rn18", "--size", "big", "-o", str(tmp_path / "x.onnx")]) == 2
    assert "expected WIDTHxHEIGHT" in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / "x.onnx"))
    assert [f for f in os.listdir(str(tmp_path)) if ".tmp" in f] == []
    json.dumps(info)  # the metadata is plain data
