"""Augmentations applied to an image and its label together, on numpy arrays.

Every transform is called as ``t(image, label, rng) -> (image, label)`` with image (H, W, 3) uint8
RGB, label (H, W) uint8 train ids (255 = void) and ``rng`` a ``numpy.random.Generator`` (or a
``torch.Generator``). The datasets pass a generator seeded from (seed, epoch, index), so an
augmentation depends only on those three numbers, not on worker processes or their order.
Images are resampled bilinearly, labels with nearest neighbours (no invented class ids).
"""

from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from .labels import VOID

Size = Union[int, Sequence[int]]
Rng = Union[np.random.Generator, torch.Generator, None]
Pair = Tuple[np.ndarray, np.ndarray]

# centre-aligned nearest neighbour (plain INTER_NEAREST is shifted by half a pixel)
_NEAREST = getattr(cv2, "INTER_NEAREST_EXACT", cv2.INTER_NEAREST)


def as_generator(rng: Rng) -> np.random.Generator:
    """A numpy Generator from a numpy or torch generator (None: fresh OS entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, torch.Generator):
        return np.random.default_rng(int(torch.randint(0, 2 ** 62, (1,), generator=rng)))
    if rng is None:
        return np.random.default_rng()
    raise TypeError("rng must be a numpy.random.Generator, a torch.Generator or None, got {}"
                    .format(type(rng).__name__))


def _pair(size: Size, what: str) -> Tuple[int, int]:
    hw = (int(size), int(size)) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
    if len(hw) != 2 or hw[0] < 1 or hw[1] < 1:
        raise ValueError("{} must be an int or (height, width) of positive ints, got {!r}".format(what, size))
    return hw


def _check(image: np.ndarray, label: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or label.shape != image.shape[:2]:
        raise ValueError("expected image (H, W, 3) and label (H, W) of the same size, got {} and {}".format(
            image.shape, label.shape))


def resize_pair(image: np.ndarray, label: np.ndarray, size: Tuple[int, int]) -> Pair:
    """Resize to (height, width): bilinear image, nearest label."""
    h, w = size
    return (cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR),
            cv2.resize(label, (w, h), interpolation=_NEAREST))


class Compose:
    """Apply transforms in order with one generator."""

    def __init__(self, transforms: Sequence) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: Rng = None) -> Pair:
        _check(image, label)
        gen = as_generator(rng)
        for t in self.transforms:
            image, label = t(image, label, gen)
        return image, label

    def __repr__(self) -> str:
        return "Compose({})".format(", ".join(repr(t) for t in self.transforms))


class RandomScale:
    """Scale by a factor drawn from U(low, high) (the paper: 0.5 to 2)."""

    def __init__(self, low: float = 0.5, high: float = 2.0) -> None:
        if not 0 < low <= high:
            raise ValueError("scale range must satisfy 0 < low <= high, got ({}, {})".format(low, high))
        self.low, self.high = float(low), float(high)

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: Rng = None) -> Pair:
        s = as_generator(rng).uniform(self.low, self.high)
        h, w = label.shape
        return resize_pair(image, label, (max(1, int(round(h * s))), max(1, int(round(w * s)))))

    def __repr__(self) -> str:
        return "RandomScale({}, {})".format(self.low, self.high)


class RandomCrop:
    """Crop (height, width) at a random place; a smaller input is padded first (label with void)."""

    def __init__(self, size: Size, fill: Sequence[int] = (0, 0, 0)) -> None:
        self.size = _pair(size, "crop size")
        self.fill = tuple(int(c) for c in fill)

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: Rng = None) -> Pair:
        gen = as_generator(rng)
        ch, cw = self.size
        h, w = label.shape
        if h < ch or w < cw:  # pad at a random place so that the content is not always top-left
            top, left = int(gen.integers(0, max(ch - h, 0) + 1)), int(gen.integers(0, max(cw - w, 0) + 1))
            bottom, right = max(ch - h - top, 0), max(cw - w - left, 0)
            image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=self.fill)
            label = cv2.copyMakeBorder(label, top, bottom, left, right, cv2.BORDER_CONSTANT, value=VOID)
            h, w = label.shape
        y, x = int(gen.integers(0, h - ch + 1)), int(gen.integers(0, w - cw + 1))
        return image[y:y + ch, x:x + cw], label[y:y + ch, x:x + cw]

    def __repr__(self) -> str:
        return "RandomCrop({})".format(self.size)


class RandomHorizontalFlip:
    """Mirror left-right with probability p (street scenes are left-right symmetric enough)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = float(p)

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: Rng = None) -> Pair:
        if as_generator(rng).random() < self.p:
            return image[:, ::-1], label[:, ::-1]
        return image, label

    def __repr__(self) -> str:
        return "RandomHorizontalFlip({})".format(self.p)


class PhotometricJitter:
    """Random brightness, contrast and saturation factors in [1 - x, 1 + x]; the label is untouched."""

    def __init__(self, brightness: float = 0.3, contrast: float = 0.3, saturation: float = 0.3) -> None:
        for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if not 0 <= value < 1:
                raise ValueError("{} jitter must be in [0, 1), got {}".format(name, value))
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation = float(saturation)

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: Rng = None) -> Pair:
        gen = as_generator(rng)
        b, c, s = (gen.uniform(1 - x, 1 + x) for x in (self.brightness, self.contrast, self.saturation))
        img = image.astype(np.float32) * b
        grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
        img = (img - grey.mean()) * c + grey.mean()
        grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
        img = (img - grey[..., None]) * s + grey[..., None]
        return np.clip(img + 0.5, 0, 255).astype(np.uint8), label

    def __repr__(self) -> str:
        return "PhotometricJitter({}, {}, {})".format(self.brightness, self.contrast, self.saturation)


class Resize:
    """Resize to a fixed (height, width) (e.g. half-resolution evaluation)."""

    def __init__(self, size: Size) -> None:
        self.size = _pair(size, "resize size")

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: Rng = None) -> Pair:
        return resize_pair(image, label, self.size)

    def __repr__(self) -> str:
        return "Resize({})".format(self.size)


def train_transform(crop_size: Size, scale: Tuple[float, float] = (0.5, 2.0), flip: bool = True,
                    jitter: bool = False) -> Compose:
    """The paper's augmentation: scale U(0.5, 2), crop (pad void), horizontal flip; jitter optional."""
    steps = [RandomScale(*scale), RandomCrop(crop_size)]
    if flip:
        steps.append(RandomHorizontalFlip())
    if jitter:
        steps.append(PhotometricJitter())
    return Compose(steps)


def to_tensors(image: np.ndarray, label: np.ndarray) -> Tuple[torch.Tensor, torch.Tensor]:
    """(H, W, 3) uint8 RGB and (H, W) labels -> float 3 x H x W (0-255) and int64 H x W tensors."""
    _check(image, label)
    img = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()
    return img, torch.from_numpy(np.ascontiguousarray(label).astype(np.int64))


def pad_collate(batch: Sequence[Tuple[torch.Tensor, torch.Tensor]]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Stack (image 3 x H x W, label H x W) pairs into a batch, padding each pair at the bottom and
    right to the batch's largest height and width (image with 0, label with void, so the loss ignores
    the padding): whole images of different sizes (no crop, random scale) can share a batch."""
    height = max(int(image.shape[1]) for image, _ in batch)
    width = max(int(image.shape[2]) for image, _ in batch)
    images = batch[0][0].new_zeros((len(batch), 3, height, width))
    labels = batch[0][1].new_full((len(batch), height, width), VOID)
    for i, (image, label) in enumerate(batch):
        images[i, :, :image.shape[1], :image.shape[2]] = image
        labels[i, :label.shape[0], :label.shape[1]] = label
    return images, labels


def seeded_transform(transform: Optional[object], image: np.ndarray, label: np.ndarray, seed: int, epoch: int,
                     index: int) -> Pair:
    """Apply ``transform`` with the generator the datasets use for (seed, epoch, index)."""
    if transform is None:
        return image, label
    return transform(image, label, np.random.default_rng([int(seed), int(epoch), int(index)]))
