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
    """Usage errors: one line, exit 2; a bad file among good ones: skipped, the rest done, exit 1."""
    root, _ = inputs
    out = str(tmp_path / "err")

    def usage(args, text):
        assert main(["segment"] + args + ["-o", out]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("swiftnet-ros segment: error: ") and text in err, err

    usage([str(root / "missing.png"), "--weights", "rn18"], "not found")
    usage([str(root / "folder" / "notes.txt"), "--weights", "rn18"], "unknown file type")
    empty = tmp_path / "empty"
    empty.mkdir()
    usage([str(empty), "--weights", "rn18"], "has no images")
    usage([str(root / "a.png"), "--weights", "rn18", "--backend", "caffe"], "unknown backend 'caffe'")
    usage([str(root / "a.png"), "--weights", "rn18", "--scales", "1,0.5", "--backend", "onnxruntime"],
          "run on the torch backend")
    usage([str(root / "a.png"), "--weights", "rn18", "--precision", "fp64"], "unknown precision 'fp64'")
    usage([str(root / "a.png"), "--weights", "rn18", "--alpha", "2"], "--alpha 2.0")
    usage([str(root / "a.png"), "--weights", "rn18", "--size", "0x0"], "expected WIDTHxHEIGHT")
    usage([str(root / "a.png"), "--weights", "nope.pt"], "weights 'nope.pt' not found")
    assert not os.path.exists(out)  # nothing written for a usage error
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert main(["segment", str(broken), str(root / "a.png"), "-o", out, "--weights", "rn18",
                 "--backend", "torch", "--device", "cpu"]) == 1  # one bad file: the rest are still done
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "wrote results for 1 of 2" in captured.out
    assert sorted(os.listdir(out)) == ["a_color.png", "a_labels.png"]  # nothing of the broken one


def test_segment_checks_the_output_before_the_model_loads(inputs, tmp_path, capsys, monkeypatch):
    from swiftnet_ros.commands import segment

    def no_model(*args):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(segment, "_make_segmenter", no_model)
    root, _ = inputs
    a_file = tmp_path / "results.txt"
    a_file.write_text("keep me")
    for output, text in ((a_file, "is a file: expected a folder"),
                         (a_file / "sub", "is a file, so the folder cannot be created")):
        assert main(["segment", str(root / "a.png"), "-o", str(output), "--weights", "rn18"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and text in err, err
    assert a_file.read_text() == "keep me"


def test_segment_flip_and_scales_need_a_checkpoint(inputs, tmp_path, capsys):
    root, _ = inputs
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"only its suffix is looked at")
    for extra in (["--flip"], ["--scales", "0.5,1"]):
        assert main(["segment", str(root / "a.png"), "-o", str(tmp_path / "o"), "--weights", str(onnx)]
                    + extra) == 2
        err = capsys.readouterr().err
        assert "{} needs checkpoints or presets".format(extra[0]) in err and "is an ONNX file" in err, err


def test_segment_weights_demo_is_the_bundled_checkpoint(inputs, tmp_path, capsys):
    root, _ = inputs
    assert main(["segment", str(root / "a.png"), "-o", str(tmp_path / "o"), "--weights", "demo",
                 "--device", "cpu"]) == 0
    assert (tmp_path / "o" / "a_labels.png").is_file()


def test_segment_output_names_never_clash(inputs, tmp_path, capsys):
    """Same-named inputs (other suffix, other folder) each keep their own outputs."""
    root, rgb = inputs
    src = tmp_path / "src"
    for folder in ("cam1", "cam2", "mixed"):
        (src / folder).mkdir(parents=True)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    cv2.imwrite(str(src / "cam1" / "0001.png"), bgr)
    cv2.imwrite(str(src / "cam2" / "0001.png"), np.ascontiguousarray(bgr[::-1]))  # another picture
    cv2.imwrite(str(src / "mixed" / "a.png"), bgr)
    cv2.imwrite(str(src / "mixed" / "a.jpg"), bgr)
    video = str(root / "clip.avi")
    mp4 = str(src / "clip.mp4")
    capture = cv2.VideoCapture(video)
    writer = cv2.VideoWriter(mp4, cv2.VideoWriter_fourcc(*"mp4v"), 10, (W, H))
    for _ in range(2):
        writer.write(capture.read()[1])
    capture.release()
    writer.release()
    out = tmp_path / "out"
    inputs = [str(src / "cam1" / "0001.png"), str(src / "cam2" / "0001.png"), str(src / "mixed"), video, mp4]
    assert main(["segment"] + inputs + ["-o", str(out), "--weights", "rn18", "--device", "cpu"]) == 0
    assert "wrote results for 6 of 6 input(s)" in capsys.readouterr().out
    files = sorted(os.path.relpath(os.path.join(d, f), str(out))
                   for d, _, fs in os.walk(str(out)) for f in fs)
    assert files == sorted(["cam1/0001_png_labels.png", "cam1/0001_png_color.png",
                            "cam2/0001_png_labels.png", "cam2/0001_png_color.png",
                            "mixed/a_png_labels.png", "mixed/a_png_color.png",
                            "mixed/a_jpg_labels.png", "mixed/a_jpg_color.png",
                            "clip_avi_color.mp4", "clip_mp4_color.mp4"])
    one = cv2.imread(str(out / "cam1" / "0001_png_labels.png"), cv2.IMREAD_UNCHANGED)
    two = cv2.imread(str(out / "cam2" / "0001_png_labels.png"), cv2.IMREAD_UNCHANGED)
    assert not np.array_equal(one, two)  # two pictures, two results: neither overwrote the other


def test_unique_stems_keep_short_names_where_nothing_clashes():
    from swiftnet_ros.commands.segment import unique_stems

    items = [("image", "/d/x/a.png", "a"), ("image", "/d/y/b.png", "b"), ("video", "/d/a.mp4", "a")]
    assert [stem for _, _, stem in unique_stems(items, overlay=False)] == ["a", "b", "a"]
    twice = [("image", "/d/x/a.png", "a"), ("image", "/e/x/a.png", "a")]
    assert [stem for _, _, stem in unique_stems(twice, overlay=False)] == ["d/x/a_png", "e/x/a_png"]


def test_segment_skips_its_own_output_folder_inside_an_input_folder(inputs, tmp_path):
    from swiftnet_ros.commands.segment import collect_inputs

    root, rgb = inputs
    folder = tmp_path / "imgs"
    (folder / "out" / "imgs").mkdir(parents=True)
    cv2.imwrite(str(folder / "a.png"), rgb)
    cv2.imwrite(str(folder / "out" / "imgs" / "a_labels.png"), rgb[:, :, 0])
    found = collect_inputs([str(folder)], skip=str(folder / "out"))
    assert [path for _, path, _ in found] == [str(folder / "a.png")]


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


def test_bench_errors(tmp_path, capsys):
    """Bad flags: one line, exit 2, before any timing; a misspelt backend or precision is no skip."""
    folder = tmp_path / "a_folder"
    folder.mkdir()
    for args, text in ((["--runs", "0"], "--runs must be >= 1"),
                       (["--size", "wide"], "expected WIDTHxHEIGHT"),
                       (["--model", "nope.pt"], "weights 'nope.pt' not found"),
                       (["--backend", "nope"], "unknown backend 'nope'"),
                       (["--backend", ","], "no backend"),
                       (["--precision", "fp64"], "precision 'fp64': expected"),
                       (["--json", str(folder)], "--json {!r} is a folder".format(str(folder))),
                       (["--plot", str(tmp_path / "f.txt" / "p.png")], "cannot be created")):
        if args[0] == "--plot":
            (tmp_path / "f.txt").write_text("a file")
        assert main(["bench", "--size", "96x64", "--runs", "1", "--device", "cpu"] + args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("swiftnet-ros bench: error: ") and text in err, err
