"""Trainer options: ImageNet encoder init from a file, model options, boundary-aware loss, SyncBN."""

import logging

import pytest
import torch
from train_helpers import tiny_config as _config
from train_helpers import tiny_datasets as _sets

from swiftnet_ros.model import build_model
from swiftnet_ros.train.trainer import Trainer


def _torchvision_resnet18_file(path):
    """A file laid out like torchvision's resnet18 ImageNet weights (random values, with the fc head)."""
    torch.manual_seed(5)
    state = {k: torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point() else v
             for k, v in build_model("rn18").encoder.state_dict().items()}
    state.update({"fc.weight": torch.randn(1000, 512), "fc.bias": torch.randn(1000)})
    torch.save(state, path)
    return state


def test_init_encoder_loads_a_torchvision_file_and_model_options_pass_through(tmp_path, caplog):
    state = _torchvision_resnet18_file(str(tmp_path / "resnet18-imagenet.pth"))
    config = _config(tmp_path / "run", init_encoder=str(tmp_path / "resnet18-imagenet.pth"),
                     upsample="nearest", blend="1x1")
    with caplog.at_level(logging.INFO, logger="swiftnet_ros.train"):
        trainer = Trainer(config, *_sets(config), progress=False)
    assert "encoder initialised from ImageNet weights" in caplog.text
    assert "from scratch" not in caplog.text
    encoder = trainer.model.encoder.state_dict()
    for key, value in encoder.items():
        assert torch.equal(value, state[key]), key
    assert (trainer.model.config.upsample, trainer.model.config.blend) == ("nearest", "1x1")
    # the options survive into the checkpoint's model config
    trainer.run_epoch(0)
    from swiftnet_ros.model import load_model

    model, _ = load_model(str(tmp_path / "run" / "last.pt"))
    assert (model.config.upsample, model.config.blend) == ("nearest", "1x1")


def test_init_encoder_refuses_a_file_for_another_encoder(tmp_path):
    _torchvision_resnet18_file(str(tmp_path / "rn18.pth"))
    config = _config(tmp_path / "run", model="mnv2", init_encoder=str(tmp_path / "rn18.pth"))
    with pytest.raises(ValueError, match="mobilenet_v2"):
        Trainer(config, *_sets(config), progress=False)


def test_boundary_aware_loss_trains(tmp_path):
    config = _config(tmp_path, loss="boundary", train_num=4, epochs=1)
    trainer = Trainer(config, *_sets(config), progress=False)
    assert type(trainer.criterion).__name__ == "BoundaryAwareFocalLoss"
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.run_epoch(0)
    assert trainer.history[0]["loss"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))


def test_sync_bn_is_refused_without_cuda(tmp_path):
    config = _config(tmp_path, sync_bn=True)
    with pytest.raises(ValueError, match="sync_bn needs CUDA"):
        Trainer(config, *_sets(config), progress=False)


def test_init_weights_starts_from_a_checkpoint(tmp_path, caplog):
    first = _config(tmp_path / "first", train_num=4, epochs=1, save_fp16=True)
    Trainer(first, *_sets(first), progress=False).fit()
    second = _config(tmp_path / "second", train_num=4, epochs=1,
                     init_weights=str(tmp_path / "first" / "best.pt"))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="swiftnet_ros.train"):
        trainer = Trainer(second, *_sets(second), progress=False)
    assert "model initialised from" in caplog.text and "from scratch" not in caplog.text
    saved = torch.load(str(tmp_path / "first" / "best.pt"), weights_only=True)["state_dict"]
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, saved[key].to(value.dtype)), key  # fp16 weights widened to fp32
    other = _config(tmp_path / "third", model="rn18", upsample="nearest", init_weights=second.init_weights)
    with pytest.raises(ValueError, match="init_weights"):
        Trainer(other, *_sets(other), progress=False)


def test_cached_dataset_renders_once_and_augments_like_the_dataset():
    from swiftnet_ros.data.synthetic import SyntheticDataset
    from swiftnet_ros.train.config import TrainConfig
    from swiftnet_ros.train.data import CachedDataset, train_transform

    transform = train_transform(TrainConfig(dataset="synthetic", crop_size=40, scale_min=0.8, scale_max=1.2))
    plain = SyntheticDataset(3, 70, size=(48, 96), transform=transform)
    base = SyntheticDataset(3, 70, size=(48, 96))
    calls = []
    original = base.__class__.__getitem__
    base.__class__ = type("Counted", (SyntheticDataset,), {
        "__getitem__": lambda self, i: calls.append(i) or original(self, i)})
    cached = CachedDataset(base, transform)
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(3):
            a, b = plain[i], cached[i]
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), (epoch, i)
    assert sorted(calls) == [0, 1, 2]  # rendered once each, augmented differently per epoch
    with pytest.raises(ValueError, match="workers 0"):
        TrainConfig(dataset="synthetic", cache=True, workers=2)
