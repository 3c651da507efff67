"""``swiftnet-ros segment`` (images, folders, videos) and ``swiftnet-ros bench`` (JSON schema, table, PNG)."""

import json
import os

import cv2
import numpy as np
import pytest

from swiftnet_ros.commands.main import main
from swiftnet_ros.data.synthetic import make_scene
from swiftnet_ros.infer import Segmenter
from swiftnet_ros.tools.benchmark import expand_configs, format_table, parse_backend_token

H, W = 64, 96


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    rgb, _ = make_scene(1, (H, W))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    cv2.imwrite(str(root / "a.png"), bgr)
    (root / "folder" / "sub").mkdir(parents=True)
    cv2.imwrite(str(root / "folder" / "sub" / "b.jpg"), bgr)
    cv2.imwrite(str(root / "folder" / "c.png"), bgr)
    (root / "folder" / "notes.txt").write_text("ignored")
    writer = cv2.VideoWriter(str(root / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    for i in range(3):
        writer.write(np.roll(bgr, 4 * i, axis=1))
    writer.release()
    return root, rgb


def test_segment_images_folders_and_videos(inputs, tmp_path, capsys):
    root, rgb = inputs
    out = tmp_path / "out"
    code = main(["segment", str(root / "a.png"), str(root / "folder"), str(root / "clip.avi"), "-o", str(out),
                 "--weights", "rn18", "--backend", "torch", "--device", "cpu", "--overlay"])
    assert code == 0
    assert "wrote results for 4 of 4 input(s)" in capsys.readouterr().out
    files = sorted(os.path.relpath(os.path.join(d, f), str(out))
                   for d, _, fs in os.walk(str(out)) for f in fs)
    assert files == sorted(["a_labels.png", "a_color.png", "a_overlay.png", "clip_overlay.mp4",
                            "folder/c_labels.png", "folder/c_color.png", "folder/c_overlay.png",
                            "folder/sub/b_labels.png", "folder/sub/b_color.png", "folder/sub/b_overlay.png"])
    # the written files hold exactly what the Segmenter computes
    seg = Segmenter("rn18", backend="torch", device="cpu")
    labels = cv2.imread(str(out / "a_labels.png"), cv2.IMREAD_UNCHANGED)
    expected = seg.segment(rgb).labels
    assert labels.dtype == np.uint8 and labels.shape == (H, W)
    assert (labels == expected).mean() >= 0.999
    color = cv2.imread(str(out / "a_color.png"))[:, :, ::-1]
    np.testing.assert_array_equal(color, seg.colorize(labels))
    overlay = cv2.imread(str(out / "a_overlay.png"))[:, :, ::-1]
    np.testing.assert_array_equal(overlay, seg.overlay(rgb, labels))
    video = cv2.VideoCapture(str(out / "clip_overlay.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    ok, frame = video.read()
    video.release()
    assert ok and frame.shape == (H, W, 3)


def test_segment_multiscale_ensemble_and_model_size(inputs, tmp_path):
    root, _ = inputs
    out = tmp_path / "ms"
    assert main(["segment", str(root / "a.png"), "-o", str(out), "--weights", "rn18", "--weights", "mnv2",
                 "--scales", "0.75,1", "--flip", "--device", "cpu", "--size", "48x32"]) == 0
    labels = cv2.imread(str(out / "a_labels.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (H, W)  # labels come back at the image's size


def test_segment_errors(inputs, tmp_path, capsys):
    root, _ = inputs
    out = str(tmp_path / "err")
    assert main(["segment", str(root / "missing.png"), "-o", out, "--weights", "rn18"]) == 1
    assert "input" in capsys.readouterr().err
    assert main(["segment", str(root / "folder" / "notes.txt"), "-o", out, "--weights", "rn18"]) == 1
    assert "unknown file type" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["segment", str(empty), "-o", out, "--weights", "rn18"]) == 1
    assert "has no images" in capsys.readouterr().err
    assert main(["segment", str(root / "a.png"), "-o", out, "--weights", "rn18", "--backend", "caffe"]) == 1
    assert "unknown backend 'caffe'" in capsys.readouterr().err
    assert main(["segment", str(root / "a.png"), "-o", out, "--weights", "rn18", "--scales", "1,0.5",
                 "--backend", "onnxruntime"]) == 1
    assert "run on the torch backend" in capsys.readouterr().err
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert main(["segment", str(broken), str(root / "a.png"), "-o", out, "--weights", "rn18",
                 "--backend", "torch", "--device", "cpu"]) == 1  # one bad file: the rest are still done
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "wrote results for 1 of 2" in captured.out


# ------------------------------------------------------------------ bench
def test_backend_tokens_and_config_expansion():
    assert parse_backend_token("torch") == ("torch", {})
    assert parse_backend_token("torch+jit-fold_bn") == ("torch", {"jit": True, "fold_bn": False})
    with pytest.raises(ValueError, match="empty option"):
        parse_backend_token("torch+")
    cpu = expand_configs(["torch", "onnxruntime"], ["fp32"], "cpu", True)
    assert [(c[0], c[3]) for c in cpu] == [("torch", "fp32"), ("onnxruntime", "fp32")]
    gpu = expand_configs(["torch"], ["fp32", "fp16"], "cuda", True)
    assert [c[0] for c in gpu] == ["torch-cuda_graphs", "torch+cuda_graphs", "torch+compile-cuda_graphs"] * 2
    assert [c[3] for c in gpu] == ["fp32"] * 3 + ["fp16"] * 3
    assert len(expand_configs(["torch"], ["fp32"], "cuda", False)) == 2


def test_bench_json_schema_table_and_plot(tmp_path, capsys):
    out, png = str(tmp_path / "bench.json"), str(tmp_path / "bench.png")
    code = main(["bench", "--model", "rn18", "--backend", "torch,torch+jit,onnxruntime,tensorrt",
                 "--precision", "fp32,fp16", "--size", "96x64", "--runs", "2", "--warmup", "1",
                 "--device", "cpu", "--threads", "1", "--json", out, "--plot", png])
    assert code == 0
    report = json.load(open(out))
    names = [r["name"] for r in report["results"]]
    assert names == ["baseline (eager fp32 NCHW)", "torch", "torch+jit", "onnxruntime"]
    for r in report["results"]:
        for key in ("backend", "precision", "size", "median_ms", "p90_ms", "fps", "label_agreement",
                    "speedup_vs_baseline", "peak_memory_mb"):
            assert key in r, key
        assert r["cpu_ms"] > 0
        assert r["size"] == "96x64" and r["runs"] == 2 and r["precision"] == "fp32"
        assert r["median_ms"] > 0 and r["p90_ms"] >= r["median_ms"] * 0.999
        assert r["fps"] == pytest.approx(1000 / r["median_ms"], rel=1e-3)
        assert 0.999 <= r["label_agreement"] <= 1.0
    assert report["results"][0]["speedup_vs_baseline"] == 1.0 and report["results"][0]["backend"] == "eager"
    machine = report["machine"]
    for key in ("cpu", "threads", "torch", "python", "onnxruntime", "gpu"):
        assert key in machine
    assert machine["threads"] == 1
    # fp16 on CPU and TensorRT here are skipped with their reasons, not silently dropped
    skipped = {(s["config"], s["precision"]) for s in report["skipped"]}
    assert ("torch", "fp16") in skipped and ("tensorrt", "fp32") in skipped
    text = capsys.readouterr().out
    assert "| configuration" in text and "baseline (eager fp32 NCHW)" in text
    assert format_table(report).count("\n") == len(report["results"]) + 2
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_bench_errors(capsys):
    assert main(["bench", "--runs", "0", "--size", "96x64"]) == 1
    assert "--runs must be >= 1" in capsys.readouterr().err
    assert main(["bench", "--size", "wide"]) == 1
    assert "expected WIDTHxHEIGHT" in capsys.readouterr().err
    assert main(["bench", "--model", "nope.pt", "--size", "96x64", "--runs", "1"]) == 1
    assert "not found" in capsys.readouterr().err
