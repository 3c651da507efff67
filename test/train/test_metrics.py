"""Confusion matrix, IoU and pixel accuracy against hand-computed values."""

import json
import math

import numpy as np
import pytest
import torch

from swiftnet_ros.train.metrics import ConfusionMatrix


def hand_example():
    # 3 classes; 255 = void
    target = np.array([[0, 0, 1, 1],
                       [2, 2, 255, 1]])
    pred = np.array([[0, 1, 1, 1],
                     [2, 0, 2, 0]])
    # rows truth, cols pred: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) [void skipped] (1,0)
    expected = np.array([[1, 1, 0],
                         [1, 2, 0],
                         [1, 0, 1]])
    return pred, target, expected


def test_matrix_iou_and_accuracy_by_hand():
    pred, target, expected = hand_example()
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    assert cm.matrix.tolist() == expected.tolist()
    # IoU: class 0: 1 / (1 + 2 + 1) ; class 1: 2 / (2 + 1 + 1) ; class 2: 1 / (1 + 0 + 1)
    assert cm.per_class_iou() == pytest.approx([1 / 4, 2 / 4, 1 / 2])
    assert cm.miou() == pytest.approx((1 / 4 + 2 / 4 + 1 / 2) / 3)
    assert cm.pixel_accuracy() == pytest.approx(4 / 7)


def test_torch_and_numpy_agree_and_accumulate():
    pred, target, expected = hand_example()
    cm = ConfusionMatrix(3)
    cm.update(torch.from_numpy(pred), torch.from_numpy(target))
    cm.update(pred[None], target[None])  # a batch dimension is fine
    assert cm.matrix.tolist() == (2 * expected).tolist()
    cm.reset()
    assert cm.matrix.sum() == 0


def test_absent_class_is_nan_and_left_out_of_the_mean():
    cm = ConfusionMatrix(4)
    cm.update(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    iou = cm.per_class_iou()
    assert iou[0] == pytest.approx(1 / 2) and iou[1] == pytest.approx(2 / 3)
    assert math.isnan(iou[2]) and math.isnan(iou[3])
    assert cm.miou() == pytest.approx((1 / 2 + 2 / 3) / 2)
    # a class only predicted (never in the truth) has IoU 0, and counts
    cm.update(np.array([2]), np.array([0]))
    assert cm.per_class_iou()[2] == 0.0
    assert cm.miou() == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)


def test_empty_matrix():
    cm = ConfusionMatrix(2)
    assert math.isnan(cm.miou()) and math.isnan(cm.pixel_accuracy())
    cm.update(np.array([1, 0]), np.array([255, 255]))  # only void
    assert cm.matrix.sum() == 0


def test_matches_a_loop_on_random_maps():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 6, (2, 17, 23))
    target[rng.random(target.shape) < 0.1] = 255
    pred = rng.integers(0, 5, (2, 17, 23))
    cm = ConfusionMatrix(5, ignore_index=255)
    target5 = np.where(target == 5, 255, target)
    cm.update(pred, target5)
    ref = np.zeros((5, 5), np.int64)
    for t, p in zip(target5.ravel(), pred.ravel()):
        if t != 255:
            ref[t, p] += 1
    assert np.array_equal(cm.matrix, ref)


def test_custom_ignore_index():
    cm = ConfusionMatrix(2, ignore_index=-1)
    cm.update(np.array([0, 1, 1]), np.array([0, -1, 1]))
    assert cm.matrix.tolist() == [[1, 0], [0, 1]]


def test_bad_inputs_are_named():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="differs from target shape"):
        cm.update(np.zeros((2, 3, 4, 4)), np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="target contains class id 7; expected 0..2"):
        cm.update(np.zeros(3, int), np.array([0, 7, 1]))
    with pytest.raises(ValueError, match="prediction contains class id 3"):
        cm.update(torch.tensor([0, 3]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(0)


def test_add_and_to_dict_is_json():
    pred, target, expected = hand_example()
    a, b = ConfusionMatrix(3), ConfusionMatrix(3)
    a.update(pred, target)
    b.update(pred, target)
    a.add(b)
    assert a.matrix.tolist() == (2 * expected).tolist()
    with pytest.raises(ValueError, match="4x4"):
        a.add(ConfusionMatrix(4))
    c = ConfusionMatrix(4)
    c.update(np.array([0, 1]), np.array([0, 1]))
    d = json.loads(json.dumps(c.to_dict(["a", "b", "c", "d"])))
    assert d["miou"] == 1.0 and d["pixel_accuracy"] == 1.0 and d["num_pixels"] == 2
    assert d["per_class_iou"] == {"a": 1.0, "b": 1.0, "c": None, "d": None}
    with pytest.raises(ValueError, match="2 class names"):
        c.to_dict(["a", "b"])
