"""`swiftnet-ros evaluate` options: outputs checked before any work, comma-separated --scales and
WIDTHxHEIGHT --size (old forms with a deprecation line), weights that are not checkpoints named so."""

import argparse
import json

import numpy as np
import pytest
import torch

import swiftnet_ros.model
from swiftnet_ros.commands import evaluate as evaluate_cli
from swiftnet_ros.commands.main import main


def _args(argv):
    parser = argparse.ArgumentParser(prog="swiftnet-ros evaluate")
    evaluate_cli.add_arguments(parser)
    return parser.parse_args(["--weights", "w.pt", "--dataset", "synthetic"] + argv)


def _refuse_to_load(path, *args, **kwargs):
    raise AssertionError("the weights were loaded before the output paths were checked")


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_output_paths_are_checked_before_the_weights_load(tmp_path, monkeypatch, capsys, flag):
    monkeypatch.setattr(swiftnet_ros.model, "load_model", _refuse_to_load)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    bad = str(blocker / "dir" / "x.json")
    assert main(["evaluate", "--weights", "w.pt", "--dataset", "synthetic", flag, bad]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "swiftnet-ros evaluate: error: {} {!r}: {!r} is a file, so the folder cannot be " \
                  "created".format(flag, bad, str(blocker))
    folder = str(tmp_path)
    assert main(["evaluate", "--weights", "w.pt", "--dataset", "synthetic", flag, folder]) == 2
    assert "is a folder: expected a file name" in capsys.readouterr().err


def test_scales_are_comma_separated_and_the_old_form_warns(capsys):
    assert _args(["--scales", "0.5,1,1.5"]).scales == (0.5, 1.0, 1.5)
    assert capsys.readouterr().err == ""
    assert _args(["--scales", "0.5", "1", "1.5"]).scales == (0.5, 1.0, 1.5)
    assert capsys.readouterr().err.strip().splitlines() == [
        "swiftnet-ros evaluate: warning: space-separated --scales is deprecated; write --scales 0.5,1,1.5"]


def test_size_is_width_x_height_and_the_old_form_warns(capsys):
    assert _args(["--size", "128x64"]).size == [64, 128]
    assert capsys.readouterr().err == ""
    assert _args(["--size", "64", "128"]).size == [64, 128]
    assert "--size HEIGHT WIDTH is deprecated; write --size 128x64" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["--scales", "0,1"], ["argument --scales: bad scales '0,1'", "comma-separated positive numbers"]),
    (["--scales", "a,b"], ["bad scales 'a,b'"]),
    (["--size", "64"], ["argument --size: bad size '64'", "WIDTHxHEIGHT"]),
    (["--num", "0"], ["argument --num: expected an integer >= 1, got '0'"]),
    (["--batch-size", "x"], ["argument --batch-size: expected an integer >= 1, got 'x'"]),
    (["--workers", "-1"], ["argument --workers: expected an integer >= 0, got '-1'"]),
])
def test_bad_flags_are_usage_errors(capsys, argv, words):
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--weights", "w.pt", "--dataset", "synthetic"] + argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "swiftnet-ros evaluate: error: " in err
    for word in words:
        assert word in err


def test_help_shows_one_form_of_size_and_scales(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = capsys.readouterr().out
    assert "--size WIDTHxHEIGHT " in text and "--scales S1,S2,... " in text and "HEIGHT WIDTH" not in text


def test_a_file_that_is_not_a_checkpoint_is_named_so_without_pytorchs_unsafe_advice(tmp_path, capsys):
    text, objects, empty = tmp_path / "notes.pt", tmp_path / "objects.pt", tmp_path / "empty.pt"
    text.write_text("not a checkpoint\n")
    torch.save({"weights": np.zeros(3)}, str(objects))  # numpy objects: torch.load refuses to unpickle them
    empty.write_bytes(b"")
    expected = {text: "(not a file written by torch.save)", empty: "(the file is empty)",
                objects: "holds a Python object (numpy"}
    for path, words in expected.items():
        assert main(["evaluate", "--weights", str(path), "--dataset", "synthetic", "--json", "-"]) == 2
        err = capsys.readouterr().err.strip()
        prefix = "swiftnet-ros evaluate: error: {}: not a readable torch checkpoint".format(path)
        assert err.startswith(prefix)
        assert words in err and "weights_only" not in err and len(err.splitlines()) == 1
    assert main(["evaluate", "--weights", str(tmp_path), "--dataset", "synthetic", "--json", "-"]) == 2
    assert "checkpoint {} is a folder; expected a checkpoint file".format(tmp_path) in capsys.readouterr().err


def test_precision_is_a_checkpoints_and_bf16_runs_where_the_cpu_has_it(tmp_path, capsys, monkeypatch):
    from swiftnet_ros.infer import backend
    from swiftnet_ros.infer.backend import check_precision
    from swiftnet_ros.model import build_model, save_checkpoint

    with pytest.raises(SystemExit):
        main(["evaluate", "--weights", "w.pt", "--dataset", "synthetic", "--precision", "int8"])
    assert "argument --precision: invalid choice: 'int8'" in capsys.readouterr().err
    path = str(tmp_path / "mnv2.pt")
    torch.manual_seed(0)
    save_checkpoint(path, build_model("mnv2", num_classes=19), [str(i) for i in range(19)], [[0, 0, 0]] * 19)
    argv = ["evaluate", "--weights", path, "--dataset", "synthetic", "--num", "1", "--size", "128x64",
            "--device", "cpu", "--workers", "0", "--threads", "1", "--no-progress", "--precision", "bf16"]
    with monkeypatch.context() as patch:  # a CPU without bf16: the one-line refusal, a configuration error
        patch.setattr(backend, "read_cpu_flags", lambda: frozenset({"avx2"}))
        assert main(argv) == 2
        assert capsys.readouterr().err.strip() == "swiftnet-ros evaluate: error: precision 'bf16' needs a " \
            "CPU with AVX512-BF16 or AMX (this CPU has neither) or a CUDA GPU with bf16; use precision 'fp32'"
    try:
        check_precision("bf16", torch.device("cpu"))
    except ValueError:
        pytest.skip("this CPU runs no bf16")
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["precision"] == "bf16" and result["num_images"] == 1 and 0 <= result["miou"] <= 1
