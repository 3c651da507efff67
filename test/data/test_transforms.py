"""Augmentations: image and label stay aligned, labels are never interpolated, seeding works."""

import numpy as np
import pytest
import torch

from swiftnet_ros.data.labels import VOID
from swiftnet_ros.data.transforms import (
    Compose,
    PhotometricJitter,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    Resize,
    as_generator,
    to_tensors,
    train_transform,
)

PALETTE = np.array([[200, 10, 10], [10, 200, 10], [10, 10, 200], [200, 200, 10]], np.uint8)


def blocks(h=60, w=90):
    """A label of big blocks and an image that is the label's palette colour: alignment is checkable."""
    label = np.zeros((h, w), np.uint8)
    label[:, w // 3:] = 1
    label[h // 2:, : w // 2] = 2
    label[h // 2:, 2 * w // 3:] = 3
    return PALETTE[label], label


def aligned_fraction(image, label):
    valid = label != VOID
    return (image[valid] == PALETTE[label[valid]]).all(1).mean()


def test_train_transform_keeps_image_and_label_aligned():
    image, label = blocks()
    t = train_transform((40, 50), jitter=False)
    for seed in range(20):
        img, lab = t(image, label, np.random.default_rng(seed))
        assert img.shape == (40, 50, 3) and lab.shape == (40, 50)
        assert img.dtype == np.uint8 and lab.dtype == np.uint8
        assert set(np.unique(lab).tolist()) <= {0, 1, 2, 3, VOID}  # nearest: no new ids
        assert aligned_fraction(img, lab) > 0.9  # only pixels at block edges may be blended
        assert (img[lab == VOID] == 0).all()  # padding: void label, black image


def test_scale_range_and_nearest_labels():
    image, label = blocks()
    sizes = []
    for seed in range(30):
        img, lab = RandomScale(0.5, 2.0)(image, label, np.random.default_rng(seed))
        assert img.shape[:2] == lab.shape
        sizes.append(lab.shape[0] / 60)
    assert 0.5 <= min(sizes) < 0.8 and 1.6 < max(sizes) <= 2.0
    img, lab = Resize((30, 45))(image, label)
    assert lab.shape == (30, 45) and np.array_equal(lab, label[1::2, 1::2])  # centre-aligned nearest


def test_crop_pads_small_inputs_with_void_at_random_places():
    image, label = blocks(10, 12)
    crop = RandomCrop((16, 20))
    places = set()
    for seed in range(10):
        img, lab = crop(image, label, np.random.default_rng(seed))
        assert lab.shape == (16, 20) and (lab != VOID).sum() == 10 * 12
        ys, xs = np.nonzero(lab != VOID)
        places.add((int(ys.min()), int(xs.min())))
        assert aligned_fraction(img, lab) == 1.0
    assert len(places) > 1


def test_flip_mirrors_both():
    image, label = blocks()
    img, lab = RandomHorizontalFlip(p=1.0)(image, label, np.random.default_rng(0))
    assert np.array_equal(lab, label[:, ::-1]) and np.array_equal(img, image[:, ::-1])
    img, lab = RandomHorizontalFlip(p=0.0)(image, label, np.random.default_rng(0))
    assert np.array_equal(lab, label)


def test_jitter_changes_colours_not_labels():
    image, label = blocks()
    img, lab = PhotometricJitter(0.5, 0.5, 0.5)(image, label, np.random.default_rng(1))
    assert lab is label and img.dtype == np.uint8 and not np.array_equal(img, image)
    with pytest.raises(ValueError, match="brightness jitter must be in"):
        PhotometricJitter(brightness=1.5)


def test_seeding_numpy_and_torch():
    image, label = blocks()
    t = train_transform((32, 32), jitter=True)
    a = t(image, label, np.random.default_rng(5))
    b = t(image, label, np.random.default_rng(5))
    c = t(image, label, np.random.default_rng(6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not (np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1]))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert np.array_equal(t(image, label, g1)[1], t(image, label, g2)[1])
    with pytest.raises(TypeError, match="rng must be"):
        as_generator(42)


def test_compose_checks_shapes_and_to_tensors():
    image, label = blocks()
    with pytest.raises(ValueError, match="same size"):
        Compose([])(image, label[:10])
    with pytest.raises(ValueError, match="crop size"):
        RandomCrop((0, 5))
    with pytest.raises(ValueError, match="0 < low <= high"):
        RandomScale(2.0, 1.0)
    img, lab = to_tensors(*RandomHorizontalFlip(1.0)(image, label, np.random.default_rng(0)))
    assert img.shape == (3, 60, 90) and img.dtype == torch.float32 and float(img.max()) == 200.0
    assert lab.shape == (60, 90) and lab.dtype == torch.int64
