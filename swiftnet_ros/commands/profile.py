"""``swiftnet-ros profile``: parameters and multiply-accumulates of a model."""

import argparse
import json

from swiftnet_ros.commands.checks import resolve_weights
from swiftnet_ros.model.config import BLENDS, PRESETS, UPSAMPLE_MODES
from swiftnet_ros.model.profile import profile_model, resolve_model
from swiftnet_ros.sizes import parse_size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="rn18",
                        help="preset ({}), config/models/*.yaml, a checkpoint or 'demo'"
                        .format(", ".join(PRESETS)))
    parser.add_argument("--size", default="2048x1024", help="input WIDTHxHEIGHT (default 2048x1024)")
    parser.add_argument("--blend", choices=BLENDS, help="override the upsampling modules' blend conv")
    parser.add_argument("--upsample", choices=UPSAMPLE_MODES, help="override the resize mode")
    parser.add_argument("--num-classes", type=int, help="override the number of classes")
    parser.add_argument("--pyramid-levels", type=int, help="override: 0 = single scale, 2..4 = pyramid")
    parser.add_argument("--logits-kernel", type=int, choices=(1, 3),
                        help="override: 1 (reference code) or 3 (first release, the paper's counts)")
    parser.add_argument("--device", default="meta",
                        help="where the counting forward runs: meta (no memory, default), cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    overrides = {}
    for key in ("blend", "upsample", "num_classes", "pyramid_levels", "logits_kernel"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    height, width = parse_size(args.size)
    if args.device != "meta":  # a real forward pass: the device must exist here
        from swiftnet_ros.infer.backend import resolve_device

        resolve_device(args.device)
    model = resolve_model(resolve_weights(args.model), **overrides)
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
