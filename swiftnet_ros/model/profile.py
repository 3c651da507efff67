"""Parameters and multiply-accumulates of a model (the ``swiftnet-ros profile`` command prints them).

MACs are counted from the layers that actually run: forward hooks on every Conv2d and Linear
add output elements x (input channels / groups) x kernel area. Resizing, pooling, BN, ReLU and
additions are not counted (as in the paper, whose "GFLOPs" are these multiply-accumulates).
The counting forward runs on the 'meta' device (shapes only, no arithmetic) where this torch
supports it, else one no-grad CPU forward.
"""

import copy
import os
from typing import Any, Dict

import torch
import torch.nn as nn

from .checkpoints import load_model
from .config import PRESETS, get_config
from .swiftnet import SwiftNet


def _layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    per_sample = int(output[0].numel())
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return per_sample * (module.in_channels // module.groups) * kh * kw
    return per_sample * module.in_features


def _count(model: nn.Module, width: int, height: int, device: str) -> int:
    total = []  # type: List[int]

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        total.append(_layer_macs(module, output))

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, height, width, device=device))
    finally:
        for h in handles:
            h.remove()
    return sum(total)


def count_macs(model: nn.Module, width: int, height: int, device: str = "meta") -> int:
    """Multiply-accumulates of one forward pass on a height x width image (batch 1).

    The model is copied, never changed. device='meta' counts without computing; if this torch
    cannot run the model there, one no-grad CPU forward is used instead.
    """
    if device == "meta":
        try:
            return _count(copy.deepcopy(model).to(torch.device("meta")).eval(), width, height, "meta")
        except (NotImplementedError, RuntimeError, TypeError):
            device = "cpu"
    return _count(copy.deepcopy(model).to(torch.device(device)).eval(), width, height, device)


def profile_model(model: SwiftNet, width: int, height: int, device: str = "meta") -> Dict[str, Any]:
    """{"params", "decoder_params", "gmacs"}: all parameters, the randomly initialised ones, GMACs."""
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "decoder_params": sum(p.numel() for p in model.decoder_parameters()),
        "gmacs": round(count_macs(model, width, height, device) / 1e9, 3),
    }


def resolve_model(name: str, **overrides: Any) -> SwiftNet:
    """A preset name or .yaml file (random weights), or a checkpoint path; overrides change fields."""
    if name in PRESETS or name.endswith((".yaml", ".yml")):
        return SwiftNet(get_config(name, **overrides))
    if not os.path.exists(name):
        raise FileNotFoundError("model {}: neither a preset ({}) nor an existing file".format(
            name, ", ".join(PRESETS)))
    model, meta = load_model(name)
    return SwiftNet(get_config(meta["config"], **overrides)) if overrides else model

