"""Losses (cross-entropy with void, boundary-aware focal loss) and the optimiser / schedule of the paper."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from swiftnet_ros.model import build_model
from swiftnet_ros.train.losses import BoundaryAwareFocalLoss, CrossEntropy, boundary_weights, build_loss
from swiftnet_ros.train.optim import build_optimizer, build_scheduler


def _strip_labels():
    """5 x 400: class 0 in columns 0..19, class 1 in 20..394, void in 395..399."""
    labels = np.ones((5, 400), np.uint8)
    labels[:, :20] = 0
    labels[:, 395:] = 255
    return labels


def test_boundary_weights_follow_the_distance_bins():
    w = boundary_weights(_strip_labels(), num_classes=19)
    cols = np.arange(400)
    # distance of each pixel to the nearest pixel outside its class (image borders do not count)
    distance = np.where(cols < 20, 20 - cols, np.minimum(cols - 19, 395 - cols)).astype(float)
    expected = np.select([distance < 16, distance < 64, distance < 128], [8.0, 4.0, 2.0], 1.0)
    expected[395:] = 0.0
    np.testing.assert_array_equal(w[2], expected.astype(np.float32))
    assert set(np.unique(w)) == {0.0, 1.0, 2.0, 4.0, 8.0}
    assert (w == w[2]).all()  # every row alike: no distance to the top and bottom borders


def test_boundary_weights_reject_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        boundary_weights(np.zeros((2, 3, 4), np.uint8), 19)
    with pytest.raises(ValueError, match="one more"):
        boundary_weights(np.zeros((3, 4), np.uint8), 19, bins=(16, 64), weights=(8, 4, 2, 1))


def test_focal_loss_matches_the_reference_formula():
    torch.manual_seed(0)
    labels = torch.from_numpy(_strip_labels().astype(np.int64)).unsqueeze(0)
    logits = torch.randn(1, 19, 5, 400, requires_grad=True)
    loss = BoundaryAwareFocalLoss(19, gamma=0.5)(logits, labels)
    alphas = torch.from_numpy(boundary_weights(_strip_labels(), 19))
    logp = F.log_softmax(logits, 1)[0]
    valid = alphas > 0
    logpt = logp.gather(0, labels.clamp(max=18)[:1])[0][valid]
    expected = -(alphas[valid] * torch.exp(0.5 * (1 - logpt.detach().exp())) * logpt).sum() / valid.sum()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert logits.grad[..., 395:].abs().max() == 0  # void pixels give no gradient


def test_focal_loss_without_focus_and_weights_is_cross_entropy():
    torch.manual_seed(1)
    labels = torch.from_numpy(_strip_labels().astype(np.int64)).unsqueeze(0)
    logits = torch.randn(1, 19, 5, 400)
    flat = BoundaryAwareFocalLoss(19, gamma=0.0, weights=(1, 1, 1, 1))(logits, labels)
    assert flat.item() == pytest.approx(CrossEntropy()(logits, labels).item(), rel=1e-5)


def test_cross_entropy_ignores_void_and_upsamples_logits():
    torch.manual_seed(2)
    labels = torch.randint(0, 5, (2, 8, 8))
    logits = torch.randn(2, 5, 8, 8)
    base = CrossEntropy()(logits, labels)
    voided = labels.clone()
    voided[:, :4] = 255
    assert CrossEntropy()(logits, voided).item() == pytest.approx(
        F.cross_entropy(logits[:, :, 4:], labels[:, 4:]).item(), rel=1e-6)
    assert base.item() != pytest.approx(CrossEntropy()(logits, voided).item())
    small = torch.randn(2, 5, 2, 2)  # stride-4 logits are upsampled to the label size
    assert CrossEntropy()(small, labels).item() == pytest.approx(F.cross_entropy(
        F.interpolate(small, size=(8, 8), mode="bilinear", align_corners=False), labels).item(), rel=1e-6)


@pytest.mark.parametrize("name", ["ce", "boundary"])
def test_all_void_batch_gives_zero_loss_with_a_graph(name):
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = build_loss(name, 3)(logits, torch.full((1, 4, 4), 255, dtype=torch.long))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad.abs().max() == 0


def test_build_loss_rejects_unknown_names():
    with pytest.raises(ValueError, match="dice"):
        build_loss("dice", 19)


def test_optimizer_groups_follow_the_paper():
    model = build_model("mnv2", num_classes=5)
    opt = build_optimizer(model)
    decoder, encoder = opt.param_groups
    assert (decoder["lr"], decoder["weight_decay"]) == (4e-4, 1e-4)
    assert (encoder["lr"], encoder["weight_decay"]) == (1e-4, 2.5e-5)
    assert decoder["betas"] == (0.9, 0.99)
    assert {id(p) for p in encoder["params"]} == {id(p) for p in model.encoder.parameters()}
    assert len(decoder["params"]) + len(encoder["params"]) == len(list(model.parameters()))


def test_cosine_schedule_anneals_every_group_to_min_lr():
    model = build_model("mnv2", num_classes=5)
    opt = build_optimizer(model)
    sched = build_scheduler(opt, total_steps=10, min_lr=1e-6)
    lrs = []
    for _ in range(10):
        opt.step()
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    assert lrs[4][0] == pytest.approx((4e-4 + 1e-6) / 2, rel=1e-6)  # half way along the cosine
    assert lrs[-1] == pytest.approx([1e-6, 1e-6])
    assert all(a[0] >= b[0] for a, b in zip(lrs, lrs[1:]))
    with pytest.raises(ValueError, match="total_steps"):
        build_scheduler(opt, total_steps=0)
