"""Models for the inference tests: BatchNorm statistics away from the identity, so that a wrong fold or
a wrong graph changes the output (a freshly built model's BNs are the identity); and whether this
machine's CPU runs bf16, which decides what several tests expect."""

import torch
import torch.nn as nn


def randomise_bn(model: nn.Module, seed: int = 1) -> nn.Module:
    """``model`` with seeded running statistics and affine parameters in every BatchNorm2d."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.2)
    return model


def bf16_missing() -> str:
    """Why this machine does not run bf16 on its CPU ('' where it does): a skip reason, or the refusal
    a test expects (checked before the backend's own, so it is also what onnxruntime + bf16 says)."""
    from swiftnet_ros.infer.backend import check_precision

    try:
        check_precision("bf16", torch.device("cpu"))
    except ValueError as error:
        return str(error)
    return ""
