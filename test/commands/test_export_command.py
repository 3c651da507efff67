"""``swiftnet-ros export`` checks its output, opset and size before the model is traced."""

import pytest

from swiftnet_ros.commands.main import main


@pytest.mark.parametrize("output, extra, text", [
    ("a_folder", [], "expected a file name ending in .onnx"),
    ("model.bin", [], "expected a file name ending in .onnx"),
    ("a_file/model.onnx", [], "is a file, so the folder cannot be created"),
    ("m.onnx", ["--opset", "3"], "opset 3: expected an integer >= 11"),
    ("m.onnx", ["--size", "0x0"], "bad size '0x0'"),
])
def test_export_usage_errors_before_the_model_loads(tmp_path, capsys, monkeypatch, output, extra, text):
    from swiftnet_ros.infer import weights

    def no_model(name):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(weights, "load_torch_weights", no_model)
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    args = ["export", "--weights", "rn18", "--size", "64x32", "-o", str(tmp_path / output)] + extra
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("swiftnet-ros export: error: ") and err.count("\n") == 1 and text in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "a_folder"]


def test_export_weights_demo(tmp_path, capsys):
    out = tmp_path / "demo.onnx"
    assert main(["export", "--weights", "demo", "--size", "64x32", "-o", str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
