"""Resume: a run interrupted after one epoch and resumed ends with the weights of an uninterrupted run."""

import torch
from train_helpers import tiny_config as _config
from train_helpers import tiny_datasets as _sets

from swiftnet_ros.train.data import train_transform
from swiftnet_ros.train.trainer import Trainer


def _run(config):
    """A trainer on tiny scenes with the real augmentation (scale, crop, flip: random per epoch)."""
    return Trainer(config, *_sets(config, transform=train_transform(config)), progress=False)


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    options = dict(train_num=8, epochs=2, eval_every=1, crop_size=48, scale_min=0.75, scale_max=1.25)
    _run(_config(tmp_path / "full", **options)).fit()
    part_cfg = _config(tmp_path / "part", **options)
    _run(part_cfg).run_epoch(0)  # "interrupted" after epoch 1
    resumed = _run(part_cfg.replace(resume=str(tmp_path / "part" / "last.pt")))
    assert resumed.start_epoch == 1
    resumed.fit()
    a = torch.load(str(tmp_path / "full" / "last.pt"), weights_only=True)
    b = torch.load(str(tmp_path / "part" / "last.pt"), weights_only=True)
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert a["train_state"]["epoch"] == b["train_state"]["epoch"] == 2
    assert a["train_state"]["scheduler"] == b["train_state"]["scheduler"]
    for key, value in a["train_state"]["optimizer"]["state"][0].items():
        assert torch.equal(value, b["train_state"]["optimizer"]["state"][0][key]), key
    losses = [[h["loss"] for h in x["train_state"]["history"]] for x in (a, b)]
    assert losses[0] == losses[1] and len(losses[0]) == 2


SMALL = dict(train_num=4, val_num=1)  # one step per epoch: the tests below check bookkeeping, not learning


def _log_paths_exist(log_text):
    """Every checkpoint path a train.log line names exists."""
    import os
    import re

    paths = re.findall(r"(\S*/\S+\.pt)\b", log_text)
    assert paths
    for path in paths:
        assert os.path.isfile(path), (path, log_text)


def test_resume_with_more_epochs_replans_the_cosine_to_end_at_min_lr(tmp_path):
    import pytest

    from swiftnet_ros.train.optim import cosine_lr

    cfg = _config(tmp_path / "run1", epochs=2, eval_every=0, crop_size=48, min_lr=1e-6, **SMALL)
    _run(cfg).fit()
    resumed = _run(cfg.replace(epochs=4, resume=str(tmp_path / "run1" / "last.pt"),
                               out_dir=str(tmp_path / "run2")))
    resumed.fit()
    steps = len(resumed.loader)
    lrs = [h["lr"] for h in resumed.history]
    assert lrs[1] == pytest.approx(1e-6)  # the 2-epoch run ended at its minimum
    # epochs 3 and 4 follow the 4-epoch cosine, falling to min_lr (the old plan climbed back to 4e-4)
    assert lrs[2] == pytest.approx(cosine_lr(cfg.lr, 1e-6, 3 * steps, 4 * steps))
    assert lrs[3] == pytest.approx(1e-6)
    assert resumed.optimizer.param_groups[1]["lr"] == pytest.approx(1e-6)
    log = (tmp_path / "run2" / "train.log").read_text()
    assert "schedule re-planned: cosine over 4 epochs" in log and "the checkpoint's plan: 2 epochs" in log


def test_saved_config_reproduces_the_run_and_resuming_elsewhere_keeps_named_files(tmp_path):
    import yaml

    from swiftnet_ros.commands.main import main
    from swiftnet_ros.train.config import load_config

    run1, run2, run3 = (tmp_path / n for n in ("run1", "run2", "run3"))
    cfg = _config(run1, epochs=1, eval_every=1, **SMALL)
    _run(cfg).fit()
    resumed = _run(cfg.replace(epochs=2, resume=str(run1 / "last.pt"), out_dir=str(run2)))
    # the new folder is complete from the start: the best.pt that the log will name exists
    assert (run2 / "best.pt").is_file()
    resumed.fit()
    saved = yaml.safe_load((run2 / "config.yaml").read_text())
    assert "resume" not in saved and saved["epochs"] == 2
    assert load_config(str(run2 / "config.yaml")).resume is None
    _log_paths_exist((run2 / "train.log").read_text())
    # a run started from a saved config.yaml trains from scratch, it does not continue run1
    assert main(["train", "--config", str(run1 / "config.yaml"), "--epochs", "2", "--out-dir", str(run3),
                 "--no-progress"]) == 0
    log = (run3 / "train.log").read_text()
    assert "resumed" not in log and "epoch 1/2" in log
    _log_paths_exist(log)


def test_resume_alone_uses_the_config_stored_in_last_pt_and_flags_override(tmp_path, capsys):
    import json

    from swiftnet_ros.commands.main import main

    run = tmp_path / "run"
    _run(_config(run, epochs=1, eval_every=0, **SMALL)).fit()
    assert main(["train", "--resume", str(run / "last.pt"), "--epochs", "2", "--no-progress"]) == 0
    history = json.loads((run / "history.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    # fewer epochs than already trained: refused at start, the run's files untouched
    log = (run / "train.log").read_text()
    assert main(["train", "--resume", str(run / "last.pt"), "--epochs", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("swiftnet-ros train: error: epochs=2") and "has completed 2 epochs" in err
    assert (run / "train.log").read_text() == log
