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
