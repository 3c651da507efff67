"""What every dataset here shares: a label set, seeded per-epoch augmentation, tensor samples."""

from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from .labels import LabelSet
from .transforms import seeded_transform, to_tensors


class LabelledDataset(Dataset):
    """Subclasses implement ``__len__`` and ``load(index) -> (RGB uint8 H×W×3, trainId uint8 H×W)``.

    ``transform(image, label, rng)`` works on the numpy arrays and gets a generator seeded from
    (seed, epoch, index), so augmentation does not depend on workers or processes.
    """

    def __init__(self, label_set: LabelSet, transform: Optional[Callable] = None, seed: int = 0) -> None:
        self.label_set = label_set
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0

    @property
    def class_names(self) -> List[str]:
        return self.label_set.class_names

    @property
    def palette(self) -> np.ndarray:
        return self.label_set.palette

    @property
    def num_classes(self) -> int:
        return self.label_set.num_classes

    def set_epoch(self, epoch: int) -> None:
        """Augmentations are seeded from (seed, epoch, index): call once per epoch."""
        self.epoch = int(epoch)

    def load(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        image, label = self.load(index)
        image, label = seeded_transform(self.transform, image, label, self.seed, self.epoch, index)
        return to_tensors(image, label)
