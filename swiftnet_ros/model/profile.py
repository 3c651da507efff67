"""`swiftnet-ros profile`: parameters and multiply-accumulates of a model.

MACs are counted from the layers that actually run: forward hooks on every Conv2d and Linear
add output elements x (input channels / groups) x kernel area. Resizing, pooling, BN, ReLU and
additions are not counted (as in the paper, whose "GFLOPs" are these multiply-accumulates).
The counting forward runs on the 'meta' device (shapes only, no arithmetic) where this torch
supports it, else one no-grad CPU forward.
"""

import argparse
import copy
import json
import os
from typing import Any, Dict

import torch
import torch.nn as nn

from swiftnet_ros.sizes import parse_size

from .checkpoints import load_model
from .config import BLENDS, PRESETS, UPSAMPLE_MODES, get_config
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="rn18",
                        help="preset ({}), config/models/*.yaml or a checkpoint".format(", ".join(PRESETS)))
    parser.add_argument("--size", default="2048x1024", help="input WIDTHxHEIGHT (default 2048x1024)")
    parser.add_argument("--blend", choices=BLENDS, help="override the upsampling modules' blend conv")
    parser.add_argument("--upsample", choices=UPSAMPLE_MODES, help="override the resize mode")
    parser.add_argument("--num-classes", type=int, help="override the number of classes")
    parser.add_argument("--pyramid-levels", type=int, help="override: 0 = single scale, 2..4 = pyramid")
    parser.add_argument("--logits-kernel", type=int, choices=(1, 3),
                        help="override: 1 (reference code) or 3 (first release, the paper's counts)")
    parser.add_argument("--device", default="meta", help="where the counting forward runs (default meta)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    overrides = {}
    for key in ("blend", "upsample", "num_classes", "pyramid_levels", "logits_kernel"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    height, width = parse_size(args.size)
    model = resolve_model(args.model, **overrides)
    result = profile_model(model, width, height, args.device)
    if args.json:
        print(json.dumps(result))
        return 0
    cfg = model.config
    kind = "pyramid of {}".format(cfg.pyramid_levels) if cfg.pyramid_levels else "single scale"
    print("{} ({}, {}, blend {}, {} upsampling, {} classes) at {}x{}".format(
        cfg.name, cfg.encoder, kind, cfg.blend, cfg.upsample, cfg.num_classes, width, height))
    print("  parameters          {:>12,}".format(result["params"]))
    print("  decoder parameters  {:>12,}".format(result["decoder_params"]))
    print("  GMAC                {:>12.2f}".format(result["gmacs"]))
    return 0
