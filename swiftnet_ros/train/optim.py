"""Optimiser and schedule of the paper: Adam with two parameter groups and cosine annealing.

The ImageNet-initialised encoder learns 4x slower (lr 1e-4, weight decay 2.5e-5) than the randomly
initialised decoder (lr 4e-4, weight decay 1e-4); both anneal to min_lr along a cosine.
"""

import math
from typing import Sequence

import torch
from torch import nn


def build_optimizer(model: nn.Module, lr: float = 4e-4, encoder_lr: float = 1e-4, weight_decay: float = 1e-4,
                    encoder_weight_decay: float = 2.5e-5,
                    betas: Sequence[float] = (0.9, 0.99)) -> torch.optim.Optimizer:
    """Adam over two groups: group 0 = new (decoder) parameters, group 1 = encoder parameters.

    `model` is a SwiftNet (or a DistributedDataParallel wrapping one): it must provide
    encoder_parameters() and decoder_parameters() that together cover every trainable parameter once.
    """
    model = getattr(model, "module", model)
    encoder = [p for p in model.encoder_parameters() if p.requires_grad]
    decoder = [p for p in model.decoder_parameters() if p.requires_grad]
    grouped = {id(p) for p in encoder} | {id(p) for p in decoder}
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in grouped]
    if missing or len(grouped) != len(encoder) + len(decoder):
        shared = len(encoder) + len(decoder) - len(grouped)
        raise ValueError("encoder_parameters() and decoder_parameters() must split the parameters exactly; "
                         "missing {}, {} shared".format(missing[:5], shared))
    groups = [
        {"params": decoder, "lr": lr, "weight_decay": weight_decay, "name": "decoder"},
        {"params": encoder, "lr": encoder_lr, "weight_decay": encoder_weight_decay, "name": "encoder"},
    ]
    return torch.optim.Adam(groups, betas=(float(betas[0]), float(betas[1])))


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int,
                    min_lr: float = 1e-6) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine annealing of every group from its own lr to min_lr over total_steps optimiser steps."""
    if total_steps < 1:
        raise ValueError("total_steps must be >= 1, got {}".format(total_steps))
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=min_lr)


def cosine_lr(base_lr: float, min_lr: float, step: int, total_steps: int) -> float:
    """The cosine schedule's value after ``step`` of ``total_steps`` steps (min_lr from the end on)."""
    t = min(step, total_steps) / total_steps
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * t)) / 2


def replan_cosine(scheduler: torch.optim.lr_scheduler.CosineAnnealingLR, total_steps: int, step: int,
                  min_lr: float, base_lrs: Sequence[float]) -> None:
    """Move a restored schedule onto a new plan (another length, minimum or base lrs) at ``step``.

    Every group's lr becomes the new cosine's value at ``step``, so the schedule's own updates carry
    on along that cosine and reach min_lr after total_steps (a schedule kept at its old length would
    run past its end and climb again).
    """
    if total_steps < 1:
        raise ValueError("total_steps must be >= 1, got {}".format(total_steps))
    scheduler.T_max = total_steps
    scheduler.eta_min = min_lr
    scheduler.base_lrs = [float(lr) for lr in base_lrs]
    scheduler.last_epoch = step
    for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
        group["initial_lr"] = base
        group["lr"] = cosine_lr(base, min_lr, step, total_steps)
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]
