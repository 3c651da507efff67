"""`swiftnet-ros train` options and config files: one error line naming the bad value (exit 2),
sizes as WIDTHxHEIGHT (the old HEIGHT WIDTH with a deprecation line), choices in --help."""

import argparse

import pytest

from swiftnet_ros.commands import train as train_cli
from swiftnet_ros.commands.main import main


def _config(argv):
    parser = argparse.ArgumentParser(prog="swiftnet-ros train")
    train_cli.add_arguments(parser)
    return train_cli.config_from_args(parser.parse_args(argv))


@pytest.mark.parametrize("text, words", [
    ("dataset: synthetic\nepochs: [1\n",
     ["is not valid YAML at line 3, column 1", "flow sequence at line 2"]),
    ("dataset: synthetic\nlr: 1: 2\n", ["is not valid YAML at line 2, column 6", "mapping values"]),
    ("dataset: synthetic\nout_dir: 5\n", ["out_dir=5 is of type int; expected type string"]),
    ("dataset: synthetic\nsize: 128\n",
     ["size=128; expected WIDTHxHEIGHT such as 512x256, or [height, width]"]),
    ("dataset: synthetic\nsize: 128by64\n", ["size='128by64'; expected WIDTHxHEIGHT"]),
    ("- dataset\n- synthetic\n", ["expected a mapping of keys to values, got list"]),
])
def test_bad_config_files_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, text, words):
    monkeypatch.chdir(tmp_path)  # where the default out_dir (runs/train) would be
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    assert main(["train", "--config", str(path), "--epochs", "1", "--train-num", "1", "--workers", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("swiftnet-ros train: error: ")
    assert "Optional" not in err
    for word in words:
        assert word in err
    assert not (tmp_path / "runs").exists()


def test_config_folder_is_refused(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path)]) == 2
    assert "is a folder; expected a YAML file" in capsys.readouterr().err


def test_size_is_width_x_height_in_flags_and_yaml(tmp_path, capsys):
    assert _config(["--dataset", "synthetic", "--size", "128x64"]).size == [64, 128]
    assert capsys.readouterr().err == ""
    path = tmp_path / "cfg.yaml"
    path.write_text("dataset: synthetic\nsize: 128x64\n")
    assert _config(["--config", str(path)]).size == [64, 128]


def test_old_size_form_still_works_with_one_deprecation_line(capsys):
    assert _config(["--dataset", "synthetic", "--size", "64", "128"]).size == [64, 128]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["swiftnet-ros train: warning: --size HEIGHT WIDTH is deprecated; write --size 128x64 "
                   "(WIDTHxHEIGHT)"]


@pytest.mark.parametrize("argv, words", [
    (["--size", "64by32"], ["argument --size: bad size '64by32'"]),
    (["--size", "1", "2", "3"], ["argument --size: bad size '1 2 3'"]),
    (["--dataset", "kitti"], ["argument --dataset: invalid choice: 'kitti'", "synthetic"]),
])
def test_bad_flags_are_usage_errors(capsys, argv, words):
    with pytest.raises(SystemExit) as exit_:
        main(["train"] + argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err


def test_help_lists_the_choices_and_the_one_size_form(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "{cityscapes,camvid,folder,synthetic}" in text and "{ce,boundary}" in text
    assert "--size WIDTHxHEIGHT " in text and "HEIGHT WIDTH" not in text
