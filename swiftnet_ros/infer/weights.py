"""What a ``weights`` string names: a preset (random weights), a checkpoint, an ONNX file or an engine."""

import os
from typing import Any, Dict, Tuple

import numpy as np
import torch
import torch.nn as nn

from swiftnet_ros.data.labels import check_palette
from swiftnet_ros.files import CHECKPOINT_SUFFIXES, ENGINE_SUFFIXES, ONNX_SUFFIXES, WEIGHTS_SUFFIXES

__all__ = ["CHECKPOINT_SUFFIXES", "ENGINE_SUFFIXES", "ONNX_SUFFIXES", "PRESET_SEED", "WEIGHTS_SUFFIXES",
           "as_palette", "load_torch_weights", "weights_kind"]  # the suffixes: files.py's, named here too

PRESET_SEED = 0


def _presets() -> Dict[str, Any]:
    from swiftnet_ros.model import PRESETS

    return PRESETS


def weights_kind(weights: str) -> str:
    """"preset" | "onnx" | "engine" | "checkpoint"; a missing file: FileNotFoundError naming the choices."""
    if not isinstance(weights, str) or not weights:
        raise ValueError("weights must be a file path or a preset name, got {!r}".format(weights))
    if weights in _presets():
        return "preset"
    if not os.path.isfile(weights):
        raise FileNotFoundError("weights {!r} not found: expected a checkpoint, an .onnx file, a TensorRT "
                                ".engine or a preset name ({})".format(weights, ", ".join(_presets())))
    lower = weights.lower()
    if lower.endswith(ONNX_SUFFIXES):
        return "onnx"
    if lower.endswith(ENGINE_SUFFIXES):
        return "engine"
    return "checkpoint"


def as_palette(palette: Any, num_classes: int, source: str) -> np.ndarray:
    return check_palette(palette, num_classes, "{}: palette".format(source))


def load_torch_weights(weights: str) -> Tuple[nn.Module, Dict[str, Any]]:
    """(model in eval mode, meta) for a preset or a checkpoint.

    meta has model_name, class_names, palette ((C, 3) uint8) and config.

    A preset gets seeded random weights (always the same model, for benchmarks) without touching the
    caller's random state; its classes are Cityscapes' 19.
    """
    from swiftnet_ros.model import build_model, load_model

    kind = weights_kind(weights)
    if kind == "preset":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(PRESET_SEED)
            model = build_model(weights)
        from swiftnet_ros.data.labels import get_label_set

        labels = get_label_set("cityscapes")
        if model.config.num_classes != labels.num_classes:
            raise ValueError("preset {!r} has {} classes; expected {} (Cityscapes)".format(
                weights, model.config.num_classes, labels.num_classes))
        class_names, palette = list(labels.class_names), labels.palette
    elif kind == "checkpoint":
        model, meta = load_model(weights, map_location="cpu")
        class_names, palette = list(meta["class_names"]), meta["palette"]
    else:
        raise ValueError("weights {!r} is an {} file, not a checkpoint or preset".format(weights, kind))
    num_classes = model.config.num_classes
    if num_classes > 255:
        raise ValueError("{}: {} classes do not fit a uint8 label map with 255 = void"
                         .format(weights, num_classes))
    meta = {"model_name": model.config.name, "class_names": class_names,
            "palette": as_palette(palette, num_classes, weights), "config": model.config}
    return model.eval(), meta
