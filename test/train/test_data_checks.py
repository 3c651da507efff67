"""Bad folder-dataset labels are found before training (one line naming the file); a bad sample met
during training is one line in the error and in train.log; crop_size 0 with scale jitter pads batches."""

import cv2
import numpy as np
import pytest
import torch
from train_helpers import folder_dataset
from train_helpers import tiny_config as _config

from swiftnet_ros.commands.main import main
from swiftnet_ros.data.datasets import FolderDataset
from swiftnet_ros.data.transforms import pad_collate
from swiftnet_ros.model import build_model, save_checkpoint
from swiftnet_ros.train.data import DatasetInfo
from swiftnet_ros.train.trainer import Trainer, TrainingError

SMALL = dict(train_num=4, val_num=1, eval_every=0)


def _folder(root):
    folder_dataset(root, split="train")
    return folder_dataset(root, split="val")


def _train_args(root, out):
    return ["train", "--dataset", "folder", "--root", str(root), "--epochs", "1", "--batch-size", "2",
            "--crop-size", "16", "--workers", "0", "--threads", "1", "--device", "cpu", "--out-dir", str(out),
            "--no-progress"]


@pytest.mark.parametrize("spoil, words", [
    (lambda path: cv2.imwrite(path, np.full((24, 32), 7, np.uint8)),
     ["b.png contains class id 7", "expected 0..2 or 255 (void) for the 3 classes"]),
    (lambda path: cv2.imwrite(path, np.zeros((16, 16), np.uint8)),
     ["is 32x24 but label", "b.png is 16x16", "expected a label of its image's size"]),
])
def test_bad_folder_labels_are_found_before_training(tmp_path, capsys, spoil, words):
    labels = _folder(tmp_path / "data")
    spoil(str(labels / "b.png"))  # a validation label: without the up-front check, found after an epoch
    out = tmp_path / "out"
    assert main(_train_args(tmp_path / "data", out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("swiftnet-ros train: error: ") and "Traceback" not in "".join(err)
    for word in words:
        assert word in err[-1]
    assert not out.exists()  # nothing written
    weights = str(tmp_path / "w.pt")
    info = DatasetInfo.of(FolderDataset(str(tmp_path / "data"), "train"))
    save_checkpoint(weights, build_model("rn18", num_classes=3), info.class_names, info.palette)
    assert main(["evaluate", "--weights", weights, "--dataset", "folder", "--root", str(tmp_path / "data"),
                 "--json", "-", "--workers", "0"]) == 2  # evaluate checks the labels the same way
    assert words[0] in capsys.readouterr().err


@pytest.mark.parametrize("workers", [0, 1])
def test_a_bad_sample_during_training_is_one_line_also_in_train_log(tmp_path, workers):
    labels = _folder(tmp_path / "data")
    cv2.imwrite(str(labels.parent / "train" / "a.png"), np.full((24, 32), 9, np.uint8))
    train = FolderDataset(str(tmp_path / "data"), "train")  # given directly: no up-front check
    val = FolderDataset(str(tmp_path / "data"), "val")
    config = _config(tmp_path / "out", epochs=1, batch_size=2, workers=workers, dataset="folder",
                     root=str(tmp_path / "data"))
    trainer = Trainer(config, train, val, DatasetInfo.of(train), progress=False)
    with pytest.raises(TrainingError) as err:
        trainer.fit()
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message  # a worker's traceback is not repeated
    assert message.startswith("training failed in epoch 1: label ") and "a.png contains class id 9" in message
    assert (tmp_path / "out" / "train.log").read_text().strip().splitlines()[-1].endswith(message)


def test_crop_size_0_with_scale_jitter_pads_each_batch(tmp_path):
    config = _config(tmp_path / "out", epochs=1, crop_size=0, scale_min=0.5, scale_max=1.0, **SMALL)
    trainer = Trainer(config, progress=False)  # the configured dataset and augmentation
    trainer.fit()
    assert len(trainer.history) == 1 and np.isfinite(trainer.history[0]["loss"])


def test_pad_collate_pads_images_with_zero_and_labels_with_void():
    small = (torch.ones(3, 2, 3), torch.zeros(2, 3, dtype=torch.int64))
    large = (torch.full((3, 4, 2), 2.0), torch.ones(4, 2, dtype=torch.int64))
    images, labels = pad_collate([small, large])
    assert images.shape == (2, 3, 4, 3) and labels.shape == (2, 4, 3)
    assert images[0, :, 2:].eq(0).all() and labels[0, 2:].eq(255).all() and labels[0, :2].eq(0).all()
    assert labels[1, :, 2].eq(255).all() and images[1, :, :, :2].eq(2).all()
