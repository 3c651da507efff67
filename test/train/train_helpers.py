"""Shared by the training tests: a tiny seeded synthetic configuration and its datasets."""

from swiftnet_ros.data.synthetic import SyntheticDataset
from swiftnet_ros.train.config import TrainConfig
from swiftnet_ros.train.data import DatasetInfo

SIZE = (64, 128)  # (height, width): tiny scenes keep every step well under a second


def tiny_config(out_dir, **changes):
    values = dict(dataset="synthetic", model="rn18", size=list(SIZE), train_seed=0, train_num=12,
                  val_seed=1000, val_num=4, epochs=2, batch_size=4, lr=1e-3, encoder_lr=1e-3, workers=0,
                  threads=1, seed=3, device="cpu", out_dir=str(out_dir))
    values.update(changes)
    return TrainConfig(**values)


def tiny_datasets(config, transform=None):
    train = SyntheticDataset(config.train_num, config.train_seed, size=SIZE, transform=transform)
    val = SyntheticDataset(config.val_num, config.val_seed, size=SIZE)
    return train, val, DatasetInfo.of(train)
