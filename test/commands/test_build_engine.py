"""``swiftnet-ros build-engine`` and ``profile``: bad flags are one line and exit 2, before TensorRT loads
or the model is built."""

import pytest

from swiftnet_ros.commands.main import main


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    from swiftnet_ros.infer.export import export_onnx
    from swiftnet_ros.infer.weights import load_torch_weights

    model, meta = load_torch_weights("mnv2")
    path = str(tmp_path_factory.mktemp("onnx") / "m.onnx")
    export_onnx(model, (32, 32), meta["class_names"], meta["palette"], path=path)
    return path


@pytest.mark.parametrize("extra, text", [
    (["-o", "{tmp}/a_folder.engine"], "is a folder: expected a file name"),
    (["-o", "{tmp}/m.onnx.bin"], "expected a file name ending in .engine or .plan or .trt"),
    (["-o", "{tmp}/a_file/m.engine"], "is a file, so the folder cannot be created"),
    (["--timing-cache", "{tmp}"], "--timing-cache"),
    (["--workspace-mb", "0"], "--workspace-mb 0: expected at least 1"),
])
def test_build_engine_usage_errors_before_tensorrt(onnx_file, tmp_path, capsys, monkeypatch, extra, text):
    from swiftnet_ros.infer import backend_tensorrt

    def no_tensorrt():
        raise AssertionError("TensorRT was loaded before the flags were checked")

    monkeypatch.setattr(backend_tensorrt, "import_tensorrt", no_tensorrt)
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder.engine").mkdir()
    extra = [a.format(tmp=tmp_path) for a in extra]
    assert main(["build-engine", "--onnx", onnx_file] + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("swiftnet-ros build-engine: error: ") and err.count("\n") == 1 and text in err, err


def test_build_engine_refuses_a_foreign_file(tmp_path, capsys):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not onnx")
    assert main(["build-engine", "--onnx", str(junk)]) == 2
    assert "is not a readable ONNX model" in capsys.readouterr().err


@pytest.mark.parametrize("args, text", [
    (["--device", "gpu"], "unknown device 'gpu'"),
    (["--size", "0x0"], "bad size '0x0'"),
    (["--model", "nope"], "neither a preset"),
])
def test_profile_usage_errors(capsys, args, text):
    assert main(["profile"] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("swiftnet-ros profile: error: ") and err.count("\n") == 1 and text in err, err


def test_profile_weights_demo(capsys):
    assert main(["profile", "--model", "demo", "--size", "64x32", "--json"]) == 0
    assert '"params"' in capsys.readouterr().out
