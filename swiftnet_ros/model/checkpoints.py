"""Checkpoints: our own format, the reference implementation's state dicts, torchvision ImageNet weights.

Our format is one torch.save'd dict: {"format": FORMAT, "config": ModelConfig.to_dict(),
"state_dict": ..., "class_names": [...], "palette": [[r, g, b], ...], <extra keys>}.
"""

import inspect
import os
import re
import warnings
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from swiftnet_ros.files import atomic_path

from .config import ModelConfig, get_config
from .swiftnet import SwiftNet

FORMAT = "swiftnet_ros/1"
RESERVED_KEYS = ("format", "config", "state_dict", "class_names", "palette")
# The reference's first release normalised with ImageNet statistics scaled to 0-255.
IMAGENET_MEAN_255 = [0.485 * 255, 0.456 * 255, 0.406 * 255]
IMAGENET_STD_255 = [0.229 * 255, 0.224 * 255, 0.225 * 255]
# Keys of torchvision ImageNet files that SwiftNet has no use for (the classification head).
IMAGENET_HEAD = re.compile(r"^(fc\.|classifier\.|features\.18\.)")
EXPECTED = ("a swiftnet_ros checkpoint, a reference SwiftNet state dict (backbone.spp.* or "
            "backbone.upsample_blends.*), or a torchvision resnet18 / mobilenet_v2 ImageNet state dict")


def save_checkpoint(path: str, model: SwiftNet, class_names: Sequence[str], palette: Any,
                    extra: Optional[Dict[str, Any]] = None) -> None:
    """Write model weights, config, class names and palette (plus extra entries, e.g. optimiser state)."""
    num_classes = model.config.num_classes
    if len(class_names) != num_classes:
        raise ValueError("{} class names: the model has {} classes".format(len(class_names), num_classes))
    from swiftnet_ros.data.labels import check_palette  # lazy: keeps the model importable on its own

    colors = check_palette(palette, num_classes)
    data = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "class_names": [str(n) for n in class_names],
        "palette": [[int(c) for c in row] for row in colors.tolist()],
    }
    for key, value in (extra or {}).items():
        if key in RESERVED_KEYS:
            raise ValueError("extra key {!r}: reserved; expected a name other than {}".format(
                key, ", ".join(RESERVED_KEYS)))
        _check_plain(value, "extra[{!r}]".format(key))
        data[key] = value
    with atomic_path(path) as tmp:  # never leave a half-written checkpoint behind
        torch.save(data, tmp)


PLAIN_TYPES = (str, int, float, bool, type(None))  # exact types: numpy scalars subclass float


def _check_plain(value: Any, where: str) -> None:
    """Only what torch.load(weights_only=True) reads back may go into a checkpoint."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(k, where)
            _check_plain(v, "{}[{!r}]".format(where, k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, "{}[{}]".format(where, i))
    elif type(value) not in PLAIN_TYPES and not isinstance(value, torch.Tensor):
        raise ValueError("{} is a {}: expected tensors, numbers, strings, lists and dicts only".format(
            where, type(value).__name__))


def load_model(path: str, map_location: Any = "cpu") -> Tuple[SwiftNet, Dict[str, Any]]:
    """Load any supported checkpoint. Returns (model in eval mode, meta) where meta has "config",
    "class_names", "palette", "format" and the checkpoint's extra entries. A device map_location
    ("cpu", "cuda:0", torch.device) also places the model there."""
    model, meta = _load_any(path, read_checkpoint(path, map_location))
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    return model.eval(), meta


def _load_any(path: str, data: Any) -> Tuple[SwiftNet, Dict[str, Any]]:
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return _load_own(path, data)
    if isinstance(data, dict) and isinstance(data.get("format"), str):
        raise ValueError("{}: checkpoint format {!r}: expected {!r}".format(path, data["format"], FORMAT))
    state = _unwrap_state_dict(path, data)
    kind = detect_state_dict(state)
    if kind == "reference-single-scale":
        model, fmt = _import_reference_single_scale(state)
    elif kind == "reference-pyramid":
        model, fmt = _import_reference_pyramid(state)
    elif kind in ("torchvision-resnet18", "torchvision-mobilenet_v2"):
        model = SwiftNet(get_config("rn18" if kind.endswith("resnet18") else "mnv2"))
        ignored = load_encoder_weights(model, state)
        names, palette = default_classes(model.config.num_classes)
        meta = {"config": model.config, "class_names": names, "palette": palette, "format": kind,
                "ignored_keys": ignored}
        return model, meta
    else:
        raise ValueError("{}: unrecognised checkpoint ({} entries, e.g. {}): expected {}".format(
            path, len(state), ", ".join(list(state)[:3]) or "none", EXPECTED))
    names, palette = default_classes(model.config.num_classes)
    return model, {"config": model.config, "class_names": names, "palette": palette, "format": fmt}


def read_checkpoint(path: str, map_location: Any = "cpu") -> Any:
    """torch.load with weights_only where this torch has it (never unpickles arbitrary objects)."""
    if os.path.isdir(path):
        raise ValueError("checkpoint {} is a folder; expected a checkpoint file".format(path))
    if not os.path.isfile(path):
        raise FileNotFoundError("checkpoint {}: no such file".format(path))
    kwargs = {"map_location": map_location}
    if "weights_only" in inspect.signature(torch.load).parameters:
        kwargs["weights_only"] = True
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of files it then refuses
            warnings.simplefilter("ignore")
            return torch.load(path, **kwargs)
    except Exception as exc:  # torch raises several types for files that are not checkpoints
        raise ValueError("{}: not a readable torch checkpoint ({}): expected {}".format(
            path, _why_not_a_checkpoint(path, exc), EXPECTED)) from exc


def _why_not_a_checkpoint(path: str, exc: Exception) -> str:
    """Why torch.load refused a file, in our words: its own message advises loading with
    weights_only=False, which could run code from the file and would not make it a checkpoint."""
    if os.path.getsize(path) == 0:
        return "the file is empty"
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    if found:
        return "it holds a Python object ({}) that checkpoints never contain; it was not unpickled, " \
               "since that could run code from the file".format(found.group(1))
    if zipfile.is_zipfile(path):
        return "a zip file that torch cannot read as a saved checkpoint"
    return "not a file written by torch.save"


def _load_own(path: str, data: Dict[str, Any]) -> Tuple[SwiftNet, Dict[str, Any]]:
    missing = [k for k in RESERVED_KEYS if k not in data]
    if missing:
        raise ValueError("{}: swiftnet_ros checkpoint without {}".format(path, ", ".join(missing)))
    config = ModelConfig.from_dict(data["config"])
    model = SwiftNet(config)
    _load_exact(model, data["state_dict"], path)
    meta = {k: v for k, v in data.items() if k != "state_dict"}
    meta["config"] = config
    return model, meta


def _load_exact(model: nn.Module, state: Dict[str, torch.Tensor], source: str) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = ["{} {} (expected {})".format(k, tuple(state[k].shape), tuple(own[k].shape))
             for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                more = " ..." if len(keys) > 4 else ""
                parts.append("{} {}: {}{}".format(len(keys), label, ", ".join(keys[:4]), more))
        target = model.config.name if isinstance(model, SwiftNet) else type(model).__name__
        raise ValueError("{}: weights do not fit {}: {}".format(source, target, "; ".join(parts)))
    model.load_state_dict(state)


def _unwrap_state_dict(path: str, data: Any) -> Dict[str, torch.Tensor]:
    if isinstance(data, dict):
        for key in ("state_dict", "model"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError("{}: found a {} that is not a state dict: expected {}".format(
            path, type(data).__name__, EXPECTED))
    if data and all(k.startswith("module.") for k in data):  # saved from DataParallel
        data = {k[len("module."):]: v for k, v in data.items()}
    return data


def detect_state_dict(state: Dict[str, torch.Tensor]) -> Optional[str]:
    """Name the layout of a plain state dict, or None."""
    if "backbone.spp.spp.spp_bn.conv.weight" in state and "logits.conv.weight" in state:
        return "reference-single-scale"
    if "backbone.upsample_blends.0.blend_conv.conv.weight" in state and "logits.conv.weight" in state:
        return "reference-pyramid"
    if "conv1.weight" in state and "layer4.1.bn2.running_var" in state:
        return "torchvision-resnet18"
    if "features.0.0.weight" in state and "features.17.conv.3.running_var" in state:
        return "torchvision-mobilenet_v2"
    return None


def default_classes(num_classes: int) -> Tuple[List[str], List[List[int]]]:
    """Class names and palette for checkpoints that carry none: Cityscapes (19), CamVid (11), else generic."""
    from swiftnet_ros.data.labels import LABEL_SETS, get_label_set  # lazy: the model imports on its own

    for name in LABEL_SETS:
        labels = get_label_set(name)
        if labels.num_classes == num_classes:
            return list(labels.class_names), labels.palette.astype(int).tolist()
    rng = np.random.RandomState(num_classes)
    palette = rng.randint(0, 256, size=(num_classes, 3)).tolist()
    return ["class_{}".format(i) for i in range(num_classes)], palette


# ---------------------------------------------------------------- torchvision ImageNet weights
def load_encoder_weights(model: SwiftNet, source: Any) -> List[str]:
    """Initialise the encoder from a torchvision ImageNet state dict (or a path to one).

    Every key except the classification head (fc.*, classifier.*, features.18.*) must match;
    those are skipped and returned. Per-level BatchNorms of pyramid models all get the ImageNet BN.
    """
    name = source if isinstance(source, str) else "state dict"
    state = _unwrap_state_dict(name, read_checkpoint(source)) if isinstance(source, str) else source
    ignored = sorted(k for k in state if IMAGENET_HEAD.match(k))
    wanted = "torchvision-resnet18" if model.config.encoder == "resnet18" else "torchvision-mobilenet_v2"
    kind = detect_state_dict(state)
    if kind != wanted:
        raise ValueError("{}: found {} ({} entries): expected a {} ImageNet state dict for encoder {}".format(
            name, kind or "an unknown layout", len(state), wanted.split("-")[1], model.config.encoder))
    mapped = _expand_levels({k: v for k, v in state.items() if k not in ignored}, model.encoder.state_dict())
    _load_exact(model.encoder, mapped, name)
    return ignored


StateDict = Dict[str, torch.Tensor]


def _expand_levels(state: StateDict, target: StateDict) -> StateDict:
    """Copy a single-BN entry "<m>.<p>" to every per-level "<m>.<level>.<p>" the target has."""
    out = {}
    for key, value in state.items():
        if key in target:
            out[key] = value
            continue
        module, _, param = key.rpartition(".")
        level = 0
        while "{}.{}.{}".format(module, level, param) in target:
            out["{}.{}.{}".format(module, level, param)] = value
            level += 1
        if level == 0:
            out[key] = value  # reported as unexpected by _load_exact
    return out


# ---------------------------------------------------------------- reference implementation
def _reference_normalisation(state: Dict[str, torch.Tensor]) -> Tuple[List[float], List[float]]:
    if "backbone.img_mean" not in state:
        return list(IMAGENET_MEAN_255), list(IMAGENET_STD_255)
    mean = state["backbone.img_mean"].flatten().double()
    std = state["backbone.img_std"].flatten().double()
    if "backbone.img_scale" in state:  # image / scale - mean) / std == (image - mean*scale) / (std*scale)
        scale = state["backbone.img_scale"].flatten().double()
        mean, std = mean * scale, std * scale
    return mean.tolist(), std.tolist()


def _logits_config(state: Dict[str, torch.Tensor]) -> Dict[str, int]:
    weight = state["logits.conv.weight"]
    return {"num_classes": int(weight.shape[0]), "logits_kernel": int(weight.shape[-1])}


def _import_reference_single_scale(state: Dict[str, torch.Tensor]) -> Tuple[SwiftNet, str]:
    fmt = "reference-single-scale" if "backbone.img_mean" in state else "reference-single-scale-v1"
    mean, std = _reference_normalisation(state)
    blend_kernel = int(state["backbone.upsample.0.blend_conv.conv.weight"].shape[-1])
    blend = "3x3" if blend_kernel == 3 else "1x1"
    config = get_config("rn18", name="rn18-reference", mean=mean, std=std, blend=blend,
                        **_logits_config(state))
    renames = [
        ("backbone.spp.spp.spp_bn.", "decoder.spp.bottleneck."),
        ("backbone.spp.spp.spp_fuse.", "decoder.spp.fuse."),
        ("backbone.spp.spp.spp", "decoder.spp.levels."),
        ("backbone.upsample.", "decoder.upsample."),
        ("backbone.", "encoder."),
    ]
    out = {}
    for key, value in state.items():
        if key in ("backbone.img_mean", "backbone.img_std", "backbone.img_scale"):
            continue
        new = key.replace(".bottleneck.", ".lateral.").replace(".blend_conv.", ".blend.")
        for old, repl in renames:
            if new.startswith(old):
                new = repl + new[len(old):]
                break
        out[new] = value
    model = SwiftNet(config)
    out["mean"], out["std"] = model.mean, model.std
    _load_exact(model, out, "reference state dict")
    return model, fmt


def _import_reference_pyramid(state: Dict[str, torch.Tensor]) -> Tuple[SwiftNet, str]:
    levels = 0
    while "backbone.bn1.{}.weight".format(levels) in state:
        levels += 1
    if levels < 2:
        raise ValueError("reference pyramid state dict with {} per-level bn1 entries: expected 2 or more"
                         .format(levels))
    mean, std = _reference_normalisation(state)
    config = get_config("rn18-pyramid", name="rn18-pyramid-reference", pyramid_levels=levels, mean=mean,
                        std=std, **_logits_config(state))
    model = SwiftNet(config)
    out = {}
    for key, value in state.items():
        if key in ("backbone.img_mean", "backbone.img_std", "backbone.img_scale"):
            continue
        match = re.match(r"backbone\.upsample_bottlenecks\.(\d+)\.(.*)", key)
        if match:  # reference order: layer4 .. layer1; ours: by stage
            out["decoder.laterals.{}.{}".format(3 - int(match.group(1)), match.group(2))] = value
        elif key.startswith("backbone.upsample_blends."):
            rest = key[len("backbone.upsample_blends."):].replace("blend_conv.", "blend.")
            out["decoder.blends." + rest] = value
        elif key.startswith("backbone."):
            out["encoder." + key[len("backbone."):]] = value
        else:
            out[key] = value
    # the reference shares the downsample BN between levels; ours has one per level
    out = _expand_levels(out, model.state_dict())
    out["mean"], out["std"] = model.mean, model.std
    _load_exact(model, out, "reference pyramid state dict")
    return model, "reference-pyramid"
