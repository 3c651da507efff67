"""Synthetic road scenes: seeded, exact Cityscapes trainIds, colour alone is not enough."""

import time

import cv2
import numpy as np
import pytest
import torch

from swiftnet_ros.data.labels import VOID, get_label_set
from swiftnet_ros.data.synthetic import (
    CAR,
    PERSON,
    POLE,
    ROAD,
    SCENE_CLASSES,
    SIGN,
    SKY,
    SyntheticDataset,
    make_scene,
    per_pixel_colour_baseline,
)


def test_scene_shape_dtype_and_labels():
    image, label = make_scene(3, (96, 160))
    assert image.shape == (96, 160, 3) and image.dtype == np.uint8
    assert label.shape == (96, 160) and label.dtype == np.uint8
    assert set(np.unique(label).tolist()) <= set(SCENE_CLASSES)  # exact labels: no void, no stray ids
    assert image.std() > 20  # not a blank image


def test_same_seed_same_arrays_other_seed_other_scene():
    a_img, a_lab = make_scene(11, (64, 128))
    b_img, b_lab = make_scene(11, (64, 128))
    assert np.array_equal(a_img, b_img) and np.array_equal(a_lab, b_lab)
    c_img, c_lab = make_scene(12, (64, 128))
    assert not np.array_equal(a_img, c_img) and not np.array_equal(a_lab, c_lab)


def test_same_seed_gives_the_same_layout_at_another_size():
    _, small = make_scene(5, (128, 256))
    _, large = make_scene(5, (256, 512))
    down = cv2.resize(large, (256, 128), interpolation=cv2.INTER_NEAREST)
    assert (down == small).mean() > 0.9


def test_scenes_contain_the_street_classes():
    seen = set()
    for seed in range(12):
        _, label = make_scene(seed, (128, 256))
        present = set(np.unique(label).tolist())
        assert {ROAD, SKY} <= present  # a street under a sky, every time
        assert len(present) >= 6
        seen |= present
    assert seen == set(SCENE_CLASSES)


def test_bottom_centre_is_road_and_top_is_not_ground():
    for seed in range(5):
        _, label = make_scene(seed, (128, 256))
        # the camera drives on the road; the lowest rows around the centre see the camera's lane
        # unless a near car stands there
        assert np.isin(label[-1, 118:138], [ROAD, CAR]).all()
        assert not np.isin(label[0], [ROAD]).any()


def test_thin_objects_stay_visible():
    areas = {POLE: [], SIGN: [], PERSON: []}
    for seed in range(10):
        _, label = make_scene(seed, (128, 256))
        for cls in areas:
            if (label == cls).any():
                areas[cls].append(int((label == cls).sum()))
    for cls, a in areas.items():
        assert a and np.median(a) >= 20, (cls, a)  # learnable at this small size


def test_colour_alone_is_far_from_enough():
    m = per_pixel_colour_baseline(range(0, 24), range(5000, 5008), size=(64, 128))
    tp = np.diag(m).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (m.sum(0) + m.sum(1) - tp)
    miou = np.nanmean(iou)
    assert m.sum() == 8 * 64 * 128
    assert miou < 0.45, miou  # a CNN must reach >= 0.85 on the same scenes


def test_generation_is_fast():
    make_scene(0)
    start = time.process_time()
    for seed in range(5):
        make_scene(seed)
    per_scene = (time.process_time() - start) / 5
    assert per_scene < 0.15, per_scene  # ~25-45 ms on one core; generous for a shared machine


def test_bad_size_is_refused():
    with pytest.raises(ValueError, match=r"\(height, width\).*\(8, 64\)"):
        make_scene(0, (8, 64))


def test_dataset_items_match_make_scene():
    ds = SyntheticDataset(3, seed=100, size=(48, 96))
    assert len(ds) == 3 and ds.label_set.num_classes == 19
    image, label = ds[2]
    assert image.dtype == torch.float32 and image.shape == (3, 48, 96)
    assert label.dtype == torch.int64 and label.shape == (48, 96)
    ref_img, ref_lab = make_scene(102, (48, 96))
    assert torch.equal(image, torch.from_numpy(ref_img).permute(2, 0, 1).float())
    assert torch.equal(label, torch.from_numpy(ref_lab).long())
    with pytest.raises(IndexError):
        ds[3]


def test_dataset_transform_gets_a_seeded_generator():
    calls = []

    def flip_some(image, label, rng):
        u = rng.random()
        calls.append(u)
        return (image[:, ::-1], label[:, ::-1]) if u < 0.5 else (image, label)

    ds = SyntheticDataset(2, seed=7, size=(32, 64), transform=flip_some)
    first = [ds[i][1] for i in range(2)]
    again = [ds[i][1] for i in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(first, again)) and calls[:2] == calls[2:]
    ds.set_epoch(1)
    ds[0]
    assert calls[-1] != calls[0]  # another epoch, other augmentation
    assert int(first[0].max()) != VOID


def test_label_set_is_cityscapes():
    assert SyntheticDataset(1, 0, (32, 32)).label_set.class_names == get_label_set("cityscapes").class_names
