"""The model exports to ONNX opset 13 (TensorRT 8.2 on the Jetson) and onnxruntime agrees with torch."""

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from swiftnet_ros.infer.export import torchscript_exporter
from swiftnet_ros.model import build_model


@pytest.mark.parametrize("preset,h,w", [
    ("rn18", 96, 160),        # stride-32 features 3 x 5: SPP grids (8, 13), (4, 7), (2, 3) do not divide them
    ("jetson-tx2", 64, 128),  # nearest resizing only
    ("mnv2-pyramid", 64, 96),
])
def test_onnx_export_opset13_matches_torch(tmp_path, preset, h, w):
    torch.manual_seed(0)
    model = build_model(preset, num_classes=4).eval()
    x = torch.rand(1, 3, h, w) * 255
    path = str(tmp_path / "model.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: sizes become constants, which is intended
        torch.onnx.export(model, (x,), path, opset_version=13, input_names=["image"], output_names=["logits"],
                          **torchscript_exporter())
    graph = onnx.load(path)
    onnx.checker.check_model(graph)
    ops = {node.op_type for node in graph.graph.node}
    assert not ops & {"AdaptiveAvgPool2d", "ATen"}
    resize_modes = {a.s.decode() for node in graph.graph.node if node.op_type == "Resize"
                    for a in node.attribute if a.name == "mode"}
    if preset == "jetson-tx2":
        assert resize_modes == {"nearest"}
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"image": x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert out.shape == (1, 4, h, w)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())
