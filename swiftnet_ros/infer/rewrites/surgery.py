"""Module surgery: swap a submodule of a model for another, addressed by its ``named_modules`` name."""

import torch.nn as nn


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace ``model``'s submodule ``name`` (e.g. "encoder.layer1.0.conv1") by ``module`` in place.

    ``nn.Module.set_submodule`` only exists from PyTorch 1.13; the Jetson TX2 has 1.10.
    """
    parent = model
    parts = name.split(".")
    for part in parts[:-1]:
        parent = getattr(parent, part)
    setattr(parent, parts[-1], module)
