"""``swiftnet-ros quantize``: synthetic, folder and bag calibration; int8 output runs through
``segment``; bad input gives one error line, exit 2 and no output file."""

import cv2
import numpy as np
import pytest
import torch

from swiftnet_ros.commands.main import main
from swiftnet_ros.data.labels import get_label_set
from swiftnet_ros.data.synthetic import make_scene
from swiftnet_ros.infer.metadata import read_onnx_metadata
from swiftnet_ros.model import build_model, save_checkpoint

H, W = 64, 96
CITYSCAPES = get_label_set("cityscapes")  # the synthetic scenes' classes, so that evaluate can score them
CLASSES, PALETTE = list(CITYSCAPES.class_names), CITYSCAPES.palette.tolist()

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.modern_stack]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(4)
    path = str(tmp_path_factory.mktemp("ckpt") / "m.pt")
    save_checkpoint(path, build_model("mnv2", num_classes=len(CLASSES)), CLASSES, PALETTE)
    return path


def quantize_info(path: str) -> dict:
    import json

    import onnx

    return json.loads({p.key: p.value for p in onnx.load(path).metadata_props}["quantization"])


def test_quantize_synthetic_then_segment(checkpoint, tmp_path, capsys):
    out = str(tmp_path / "m_int8.onnx")
    assert main(["quantize", "--weights", checkpoint, "--size", "{}x{}".format(W, H), "--num", "2",
                 "-o", out]) == 0
    printed = capsys.readouterr().out
    assert "wrote {}".format(out) in printed
    meta = read_onnx_metadata(out)
    assert meta["precision"] == "int8" and meta["input_size"] == (H, W) and meta["class_names"] == CLASSES
    assert meta["output"] == "logits_stride4"  # a checkpoint is exported to the stride-4 logits first
    info = quantize_info(out)
    assert info["calibration"] == "synthetic scenes 2000000..2000001" and info["method"] == "percentile"
    assert info["fp32_choice"] == "auto" and info["check_images"] == 1 and info["fp32_layers"][0] == "logits"
    assert "auto: fp32 logits: agreement with fp32 worst" in printed  # each prefix it measured
    layers = ", ".join(info["fp32_layers"])
    assert "fp32 layers: {} (auto: worst of 1 held-out images".format(layers) in printed
    image = str(tmp_path / "scene.png")
    cv2.imwrite(image, make_scene(7, (H, W))[0][:, :, ::-1])
    assert main(["segment", "--weights", out, "--device", "cpu", image, "-o", str(tmp_path / "seg")]) == 0
    labels = cv2.imread(str(tmp_path / "seg" / "scene_labels.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (H, W) and labels.max() < len(CLASSES)
    # evaluate runs the int8 file through onnxruntime, on scenes of the file's size
    report = str(tmp_path / "eval.json")
    assert main(["evaluate", "--weights", out, "--dataset", "synthetic", "--num", "2", "--json", report,
                 "--no-progress"]) == 0
    import json

    result = json.load(open(report))
    assert result["model"] == "mnv2" and 0 <= result["miou"] <= 1 and result["num_images"] == 2


def test_quantize_from_a_folder_and_from_a_bag(checkpoint, tmp_path):
    from swiftnet_ros.tools.bags import write_synthetic_bag

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):  # other sizes than the model's: resized as the Segmenter does
        cv2.imwrite(str(folder / "{}.jpg".format(i)), make_scene(i, (2 * H, 2 * W))[0][:, :, ::-1])
    (folder / "notes.txt").write_text("not an image")
    out = str(tmp_path / "folder_int8.onnx")
    assert main(["quantize", "--weights", checkpoint, "--size", "{}x{}".format(W, H), "--calibration",
                 str(folder), "--num", "5", "--keep-fp32", "logits", "-o", out]) == 0
    assert quantize_info(out)["images"] == 3
    bag = str(tmp_path / "bag")
    write_synthetic_bag(bag, 3, size=(H, W), seed=5)
    out = str(tmp_path / "bag_int8.onnx")
    assert main(["quantize", "--weights", checkpoint, "--size", "{}x{}".format(W, H), "--calibration", bag,
                 "--num", "2", "--keep-fp32", "logits", "-o", out]) == 0
    info = quantize_info(out)
    assert info["images"] == 2 and "bag" in info["calibration"]


def test_named_fp32_layers_and_minmax_ranges(checkpoint, tmp_path, capsys):
    out = str(tmp_path / "m_int8.onnx")
    assert main(["quantize", "--weights", checkpoint, "--size", "{}x{}".format(W, H), "--num", "1",
                 "--keep-fp32", "logits,encoder:2", "--method", "minmax", "-o", out]) == 0
    assert "fp32 layers: logits, encoder:2;" in capsys.readouterr().out
    info = quantize_info(out)
    assert info["fp32_layers"] == ["logits", "encoder:2"] and info["fp32_choice"] == "given"
    assert info["method"] == "minmax" and "check_images" not in info


def test_bad_input_is_one_line_and_writes_nothing(checkpoint, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x00not onnx")
    out = tmp_path / "out" / "m_int8.onnx"
    cases = [
        (["--weights", checkpoint, "--calibration", str(empty)], "calibration folder .* has no images"),
        (["--weights", checkpoint, "--calibration", str(tmp_path / "no")], "expected 'synthetic', a folder"),
        (["--weights", str(corrupt)], "corrupt.onnx is not a readable ONNX model"),
        (["--weights", checkpoint, "--num", "0"], "--num must be >= 1"),
        (["--weights", checkpoint, "--size", "96x64", "--keep-fp32", "head"], "keep_fp32 head"),
        (["--weights", checkpoint, "--target-agreement", "1.5"], "--target-agreement must be a fraction"),
        (["--weights", checkpoint, "--size", "96x64", "--num", "1"], "auto measures agreement on held-out"),
        (["--weights", checkpoint, "--size", "96x64", "--keep-fp32", "encoder:40"],
         "encoder:40: the model has 18 encoder blocks"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main(["quantize"] + argv + ["-o", str(out)]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("swiftnet-ros quantize: error:"), err
        assert __import__("re").search(message, err[0]), err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_int8_is_refused_by_backends_that_cannot(checkpoint, tmp_path, capsys):
    image = str(tmp_path / "scene.png")
    cv2.imwrite(image, np.zeros((H, W, 3), np.uint8))
    assert main(["segment", "--weights", checkpoint, "--device", "cpu", "--backend", "torch", "--precision",
                 "int8", image, "-o", str(tmp_path / "seg")]) == 2
    assert "precision 'int8' is not offered by the torch backend" in capsys.readouterr().err
    assert main(["segment", "--weights", checkpoint, "--device", "cpu", "--precision", "int8", image,
                 "-o", str(tmp_path / "seg")]) == 2
    assert "needs an int8 ONNX file, not a checkpoint; make one with `swiftnet-ros quantize" \
        in capsys.readouterr().err


def test_bench_quantizes_on_the_fly_and_reports_an_int8_row(checkpoint, tmp_path):
    import json

    out = str(tmp_path / "bench.json")
    assert main(["bench", "--model", checkpoint, "--backend", "torch,onnxruntime", "--precision", "fp32,int8",
                 "--size", "{}x{}".format(W, H), "--runs", "1", "--warmup", "0", "--device", "cpu",
                 "--threads", "1", "--calibration-num", "2", "--json", out]) == 0
    report = json.load(open(out))
    rows = {(r["backend"], r["precision"]): r for r in report["results"]}
    int8 = rows[("onnxruntime", "int8")]
    assert int8["speedup_vs_baseline"] > 0 and 0.5 < int8["label_agreement"] <= 1
    assert "int8" in int8["describe"]
    assert report["int8_calibration"] == "synthetic scenes 2000000..2000001"
    assert [(s["config"], s["precision"]) for s in report["skipped"]] == [("torch", "int8")]
