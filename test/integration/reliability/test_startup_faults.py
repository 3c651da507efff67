"""Faults at start-up: each is one clear error line and a non-zero exit, never a traceback wall.

All node processes start together (they fail within seconds) to keep the suite short.
"""

import pytest
import torch
from node_helpers import NodeProcess, unique_namespace

from swiftnet_ros.data.labels import get_label_set
from swiftnet_ros.infer.export import export_onnx
from swiftnet_ros.model import build_model, save_checkpoint
from swiftnet_ros.ros.params import PARAMS_FILE_KEY

CITYSCAPES = get_label_set("cityscapes")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    torch.manual_seed(0)
    model = build_model("mnv2").eval()
    checkpoint = folder / "model.pt"
    save_checkpoint(str(checkpoint), model, CITYSCAPES.class_names, CITYSCAPES.palette)
    data = checkpoint.read_bytes()
    (folder / "truncated.pt").write_bytes(data[:len(data) // 2])
    (folder / "notes.pt").write_text("these are not weights\n")
    torch.save({"epoch": 3, "lr": 0.1}, str(folder / "other.pt"))
    export_onnx(model, (64, 128), CITYSCAPES.class_names, CITYSCAPES.palette,
                path=str(folder / "64x128.onnx"), model_name="mnv2")
    (folder / "engine_cache").mkdir()
    (folder / "engine_cache" / "corrupt.engine").write_bytes(b"\x00garbage")
    (folder / "params.yaml").write_text("{}:\n  ros__parameters:\n    weights: mnv2\n    colour_map: jet\n"
                                        "    overlay_alpha: 0.3\n".format(PARAMS_FILE_KEY))
    return folder


CASES = [
    ("weights missing", lambda f: {"weights": str(f / "missing.pt")}, 2,
     "weights file '{f}/missing.pt' does not exist"),
    ("weights truncated", lambda f: {"weights": str(f / "truncated.pt")}, 2,
     "not a readable torch checkpoint"),
    ("weights not a checkpoint", lambda f: {"weights": str(f / "notes.pt")}, 2,
     "expected a swiftnet_ros checkpoint"),
    ("weights another torch file", lambda f: {"weights": str(f / "other.pt")}, 2, "not a state dict"),
    ("ONNX for another input size", lambda f: {"weights": str(f / "64x128.onnx"), "input_size": "256x128"}, 2,
     "fixed input size of 128x64 (WIDTHxHEIGHT); 256x128 was requested"),
    ("TensorRT engine cache without TensorRT", lambda f: {"weights": "mnv2", "backend": "tensorrt",
                                                          "engine_cache_dir": str(f / "engine_cache")}, 1,
     "TensorRT is not installed or cannot load"),
    ("palette with the wrong class count", lambda f: {"weights": "mnv2", "backend": "torch",
                                                      "palette": "camvid"},
     2, "palette 'camvid' has shape (11, 3); expected 19 colours"),
    ("params file with unknown keys", lambda f: {"--params-file": str(f / "params.yaml")}, 2,
     "unknown parameter(s) colour_map; valid parameters are: weights, backend, precision"),
]


def test_startup_faults_give_one_clear_line_and_a_non_zero_exit(files, figures):
    nodes = []
    try:
        for _, make_params, _, _ in CASES:
            params = make_params(files)
            extra = ["--params-file", params.pop("--params-file")] if "--params-file" in params else []
            nodes.append(NodeProcess(unique_namespace("fault"), params, extra_ros_args=extra))
        for (name, _, code, message), node in zip(CASES, nodes):
            assert node.wait_exit(120) == code, "{}:\n{}".format(name, node.output())
            output = node.output()
            errors = [line for line in output.splitlines() if "FATAL" in line or "ERROR" in line]
            assert len(errors) == 1, "{}:\n{}".format(name, output)
            assert message.format(f=files) in errors[0], "{}:\n{}".format(name, output)
            assert "Traceback" not in output, name
            figures[name] = "exit {}".format(code)
    finally:
        for node in nodes:
            node.close()
