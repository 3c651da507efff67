"""Optimiser and schedule of the paper: Adam with two parameter groups and cosine annealing.

The ImageNet-initialised encoder learns 4x slower (lr 1e-4, weight decay 2.5e-5) than the randomly
initialised decoder (lr 4e-4, weight decay 1e-4); both anneal to min_lr along a cosine.
"""

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
