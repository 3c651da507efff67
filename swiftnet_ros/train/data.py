"""Datasets for training and evaluation, built from a TrainConfig (readers: swiftnet_ros.data)."""

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from swiftnet_ros.train.config import TrainConfig


@dataclass
class DatasetInfo:
    """Class names and palette of a dataset; they go into every checkpoint trained on it."""

    class_names: List[str]
    palette: np.ndarray  # (C, 3) uint8 RGB

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @classmethod
    def of(cls, dataset: Dataset) -> "DatasetInfo":
        labels = dataset.label_set
        return cls(list(labels.class_names), np.asarray(labels.palette, dtype=np.uint8))


class CachedDataset(Dataset):
    """Keeps each sample of an unaugmented dataset in memory (uint8) after first use; augments on the way out.

    Rendering a synthetic scene costs more CPU than its share of a training step on a small model, and
    decoding PNGs is not free either. Augmentation stays random per (seed, epoch, index), as in the
    datasets' own, so runs are reproducible and resumable. Single process only (workers: 0).
    """

    def __init__(self, base: Dataset, transform: Optional[Callable] = None) -> None:
        self.base = base
        self.transform = transform
        self.label_set = base.label_set
        self.seed = int(getattr(base, "seed", 0))
        self.epoch = 0
        self.items: List[Optional[Tuple[np.ndarray, np.ndarray]]] = [None] * len(base)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        from swiftnet_ros.data.transforms import seeded_transform, to_tensors

        if self.items[index] is None:
            image, label = self.base[index]
            image = image.permute(1, 2, 0).to(torch.uint8).numpy()
            self.items[index] = (image, label.to(torch.uint8).numpy())
        image, label = self.items[index]
        return to_tensors(*seeded_transform(self.transform, image, label, self.seed, self.epoch, index))


def train_transform(config: TrainConfig) -> Optional[Callable]:
    """Random scale, crop (label padded with void), flip and optional jitter, as the config says.

    crop_size 0 keeps whole (scaled) images; the trainer's pad_collate pads each batch to its largest
    image. None when nothing is random.
    """
    from swiftnet_ros.data import transforms as T

    scale = (config.scale_min, config.scale_max)
    if config.crop_size:
        return T.train_transform(config.crop_size, scale=scale, flip=config.flip, jitter=config.jitter)
    steps = [T.RandomScale(*scale)] if scale != (1.0, 1.0) else []
    steps += [T.RandomHorizontalFlip()] if config.flip else []
    steps += [T.PhotometricJitter()] if config.jitter else []
    return T.Compose(steps) if steps else None


def build_datasets(config: TrainConfig) -> Tuple[Dataset, Dataset, DatasetInfo]:
    """(augmented training set, plain validation set, class info) for the configured dataset."""
    transform = train_transform(config)
    own = None if config.cache else transform  # a cache augments after it, the datasets before
    if config.dataset == "synthetic":
        from swiftnet_ros.data.synthetic import SyntheticDataset

        size = _size(config.size)
        train = SyntheticDataset(config.train_num, config.train_seed, transform=own, **size)
        val = SyntheticDataset(config.val_num, config.val_seed, **size)
    else:
        from swiftnet_ros.data.datasets import build_dataset

        train = build_dataset(config.dataset, config.root, config.train_split, transform=own)
        val = build_dataset(config.dataset, config.root, config.val_split)
        check_labels(train, val)
    if config.cache:
        train, val = CachedDataset(train, transform), CachedDataset(val)
    info = DatasetInfo.of(train)
    if DatasetInfo.of(val).class_names != info.class_names:
        raise ValueError("training and validation sets have different classes: {} vs {}".format(
            info.class_names, DatasetInfo.of(val).class_names))
    return train, val, info


def build_eval_dataset(name: str, root: Optional[str] = None, split: str = "val", seed: int = 424242,
                       num: int = 50, size: Optional[Sequence[int]] = None) -> Tuple[Dataset, DatasetInfo]:
    """An unaugmented dataset to evaluate on: a split of a real one, or synthetic scenes seed..seed+num-1."""
    if name == "synthetic":
        from swiftnet_ros.data.synthetic import SyntheticDataset

        dataset = SyntheticDataset(num, seed, **_size(size))
    else:
        if not root:
            raise ValueError("dataset {!r} needs --root (the dataset folder)".format(name))
        from swiftnet_ros.data.datasets import build_dataset

        dataset = build_dataset(name, root, split)
        check_labels(dataset)
    return dataset, DatasetInfo.of(dataset)


def check_labels(*datasets: Dataset) -> None:
    """Up-front label check of folder datasets (your own labels: class ids beyond the class list and
    labels of another size than their image are likely). The public releases are read as they come:
    their samples are checked as they load."""
    from swiftnet_ros.data.datasets import FolderDataset

    for dataset in datasets:
        if isinstance(dataset, FolderDataset):
            dataset.check_files()


def loader_error(error: BaseException) -> str:
    """The one-line message of an error raised while loading a sample. A DataLoader worker's error
    reaches the main process with the worker's traceback in its text: keep its last line, the
    dataset's own message (which names the file)."""
    text = str(error).strip()
    if "Original Traceback" in text:
        last = text.splitlines()[-1]
        prefix = type(error).__name__ + ": "
        text = last[len(prefix):] if last.startswith(prefix) else last
    return " ".join(text.split()) or type(error).__name__


def _size(size: Optional[Sequence[int]]) -> dict:
    return {} if size is None else {"size": (int(size[0]), int(size[1]))}
