"""The training loop on tiny synthetic scenes (CPU, seeded): it learns and writes its outputs."""

import json
import os

import numpy as np
import pytest
import torch
from train_helpers import SIZE
from train_helpers import tiny_config as _config
from train_helpers import tiny_datasets as _sets

from swiftnet_ros.commands.main import main
from swiftnet_ros.model import load_model
from swiftnet_ros.train.trainer import Trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """12 epochs x 3 steps on 12 scenes, evaluated on 4 unseen ones; shared by the tests below."""
    out = tmp_path_factory.mktemp("run")
    config = _config(out, epochs=12, eval_every=6, save_fp16=True)
    trainer = Trainer(config, *_sets(config), progress=False)
    best = trainer.fit()
    return out, trainer, best


def _evaluate_args(out, seed, num):
    return ["evaluate", "--weights", os.path.join(out, "best.pt"), "--dataset", "synthetic", "--seed", seed,
            "--num", num, "--size", "{}x{}".format(SIZE[1], SIZE[0]), "--workers", "0", "--threads", "1",
            "--no-progress"]


def _majority_miou(dataset):
    """mIoU of always answering the most frequent class: what a model that learnt nothing scores."""
    from swiftnet_ros.train.metrics import ConfusionMatrix

    labels = torch.stack([dataset[i][1] for i in range(len(dataset))])
    valid = labels[labels != 255]
    cm = ConfusionMatrix(19)
    cm.update(torch.full_like(labels, int(valid.mode().values)), labels)
    return cm.miou()


def test_loss_decreases_and_miou_is_far_above_chance(trained):
    out, trainer, best = trained
    losses = [h["loss"] for h in trainer.history]
    assert losses[-1] < 0.25 * losses[0], losses
    assert all(b < a for a, b in zip(losses[:4], losses[1:5])), losses
    chance = _majority_miou(trainer.val_set)
    assert chance < 0.06
    # held-out scenes: well above chance; 36 steps on 64 x 128 scenes leave it far from the demo's level
    assert best["miou"] > max(0.12, 3 * chance), (best, chance)
    assert [h["epoch"] for h in trainer.history if "miou" in h] == [6, 12]
    from swiftnet_ros.train.evaluate import evaluate

    seen = evaluate(trainer.model, trainer.train_set, trainer.info.class_names, progress=False)
    assert seen["miou"] > max(0.2, 5 * _majority_miou(trainer.train_set)), seen


def test_outputs_of_a_run(trained):
    out, trainer, best = trained
    for name in ("config.yaml", "train.log", "last.pt", "best.pt", "history.json", "per_class_iou.png"):
        assert os.path.isfile(os.path.join(out, name)), name
    assert not [n for n in os.listdir(out) if ".tmp" in n]  # atomic writes leave no temporary files
    events = os.listdir(os.path.join(out, "tb"))
    assert events and events[0].startswith("events.out.tfevents")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(os.path.join(out, "tb"))
    acc.Reload()
    assert {"train/loss", "train/lr", "val/miou"} <= set(acc.Tags()["scalars"])
    assert len(acc.Scalars("train/loss")) == 12 * 3  # 12 epochs x 3 steps
    assert [round(e.value, 6) for e in acc.Scalars("val/miou")] == [
        round(h["miou"], 6) for h in trainer.history if "miou" in h]
    history = json.load(open(os.path.join(out, "history.json")))
    assert history["best"]["miou"] == pytest.approx(best["miou"])
    with open(os.path.join(out, "train.log")) as f:
        assert "training from scratch" in f.read()


def test_best_checkpoint_is_fp16_and_reproduces_the_best_miou(trained, capsys):
    out, trainer, best = trained
    model, meta = load_model(os.path.join(out, "best.pt"))
    raw = torch.load(os.path.join(out, "best.pt"), weights_only=True)
    assert raw["state_dict"]["logits.conv.weight"].dtype == torch.float16
    assert meta["weights_dtype"] == "float16" and meta["epoch"] == best["epoch"]
    assert meta["class_names"][0] == "road" and len(meta["palette"]) == 19
    # the evaluate command on the validation scenes gives the mIoU seen in training (fp16 rounding aside)
    assert main(_evaluate_args(out, "1000", "4") + ["--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["miou"] == pytest.approx(best["miou"], abs=0.01)


def test_evaluate_json_format_and_plot(trained, tmp_path):
    out, _, _ = trained
    path = tmp_path / "eval.json"
    assert main(_evaluate_args(out, "2000", "2") + ["--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert 0.0 <= result["miou"] <= 1.0 and 0.0 <= result["pixel_accuracy"] <= 1.0
    assert list(result["per_class_iou"])[:3] == ["road", "sidewalk", "building"]
    assert len(result["per_class_iou"]) == 19
    defined = [v for v in result["per_class_iou"].values() if v is not None]
    assert result["miou"] == pytest.approx(float(np.mean(defined)))
    assert result["per_class_iou"]["train"] is None  # never in the scenes nor (after training) predicted
    assert (result["num_images"], result["seed"], result["dataset"]) == (2, 2000, "synthetic")
    assert (tmp_path / "eval.png").stat().st_size > 1000


def test_resume_refuses_a_checkpoint_of_another_model(trained, tmp_path):
    out, _, _ = trained
    config = _config(tmp_path, model="mnv2", upsample="nearest", resume=os.path.join(out, "last.pt"))
    with pytest.raises(ValueError, match="nearest"):
        Trainer(config, *_sets(config), progress=False)
    config = _config(tmp_path, resume=os.path.join(out, "best.pt"))
    with pytest.raises(ValueError, match="no training state"):
        Trainer(config, *_sets(config), progress=False)


def test_evaluate_multi_scale_and_flip(trained, capsys):
    out, trainer, _ = trained
    assert main(_evaluate_args(out, "1000", "2") + ["--multi-scale", "--flip", "--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["scales"] == [0.5, 0.75, 1.0, 1.25, 1.5] and result["flip"] is True
    assert 0.0 < result["miou"] <= 1.0
    # the same through the function: flip alone averages the image's and its mirror's probabilities
    from swiftnet_ros.train.evaluate import predict

    model, _ = load_model(os.path.join(out, "best.pt"))
    x = trainer.val_set[0][0][None]
    with torch.no_grad():
        probs = torch.softmax(model(x), 1) + torch.softmax(model(x.flip(3)), 1).flip(3)
    assert torch.equal(predict(model, x, scales=(1.0,), flip=True), probs.argmax(1))


def test_evaluate_rejects_a_model_for_other_classes(tmp_path, capsys):
    from swiftnet_ros.model import build_model, save_checkpoint

    model = build_model("mnv2", num_classes=3)
    path = str(tmp_path / "three.pt")
    save_checkpoint(path, model, ["a", "b", "c"], [[0, 0, 0], [1, 1, 1], [2, 2, 2]])
    assert main(["evaluate", "--weights", path, "--dataset", "synthetic", "--num", "1", "--size", "128x64",
                 "--workers", "0", "--no-progress"]) == 2
    assert "predicts 3 classes but dataset synthetic has 19" in capsys.readouterr().err
    assert main(["evaluate", "--weights", str(tmp_path / "missing.pt"), "--dataset", "synthetic"]) == 2
    assert "missing.pt" in capsys.readouterr().err
