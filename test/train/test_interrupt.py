"""Ctrl-C during training keeps what ran and says how to resume; a run that fails at start writes nothing."""

import json
import os
import signal

import pytest
import torch
from train_helpers import tiny_config as _config

from swiftnet_ros.commands.main import main
from swiftnet_ros.train.trainer import Trainer

SMALL = dict(train_num=4, val_num=1, eval_every=1)  # one step per epoch


def _interrupt_in_epoch(monkeypatch, interrupted_epoch):
    """A real SIGINT to this process at the start of epoch ``interrupted_epoch`` (0-based), as Ctrl-C."""
    original = Trainer.train_epoch

    def train_epoch(self, epoch):
        if epoch == interrupted_epoch:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", train_epoch)


def test_sigint_keeps_the_completed_epochs_and_the_printed_command_resumes(tmp_path, monkeypatch, capsys,
                                                                           caplog):
    run = tmp_path / "run"
    args = ["train", "--dataset", "synthetic", "--size", "128x64", "--train-num", "4", "--val-num", "1",
            "--val-seed", "1000", "--epochs", "3", "--batch-size", "4", "--workers", "0", "--threads", "1",
            "--device", "cpu", "--out-dir", str(run), "--no-progress"]
    _interrupt_in_epoch(monkeypatch, 2)
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    command = "swiftnet-ros train --resume {}".format(run / "last.pt")
    assert "interrupted after epoch 2; resume with: " + command in caplog.text  # the log's stderr line
    assert (run / "train.log").read_text().strip().splitlines()[-1].endswith(command)
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history["history"]] == [1, 2] and history["best"]["epoch"] in (1, 2)
    assert (run / "per_class_iou.png").is_file()
    assert torch.load(str(run / "last.pt"), weights_only=True)["train_state"]["epoch"] == 2
    monkeypatch.undo()
    assert main(command.split()[1:] + ["--no-progress"]) == 0  # the printed command, as it stands
    history = json.loads((run / "history.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]


def test_sigint_in_the_first_epoch_says_there_is_nothing_to_resume(tmp_path, monkeypatch, caplog):
    config = _config(tmp_path / "run", epochs=2, **SMALL)
    trainer = Trainer(config, progress=False)
    _interrupt_in_epoch(monkeypatch, 0)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert "interrupted in epoch 1, before any epoch completed; nothing to resume from" in caplog.text
    assert json.loads((tmp_path / "run" / "history.json").read_text())["history"] == []
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.parametrize("changes, words", [
    ({"init_weights": "missing.pt"}, ["missing.pt"]),
    ({"resume": "missing_last.pt"}, ["missing_last.pt"]),
    ({"model": "rn99"}, ["rn99"]),
])
def test_a_run_that_fails_at_start_writes_nothing(tmp_path, changes, words):
    out = tmp_path / "out"
    with pytest.raises(Exception) as err:  # FileNotFoundError / ValueError: the command's exit 2
        Trainer(_config(out, epochs=1, **dict(SMALL, **changes)), progress=False)
    for word in words:
        assert word in str(err.value)
    assert not out.exists()


def test_out_dir_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("x")
    assert main(["train", "--dataset", "synthetic", "--out-dir", str(target), "--epochs", "1",
                 "--train-num", "1", "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("out_dir={!r} is a file; expected a folder (created if missing)".format(str(target)))
    assert target.read_text() == "x"
