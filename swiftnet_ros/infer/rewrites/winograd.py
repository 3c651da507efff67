"""Winograd 3x3 convolutions on CPU through NNPACK, which PyTorch ships but uses only for batches >= 16.

On CPU most of SwiftNet-RN18's multiply-accumulates are 3x3 stride-1 convolutions; NNPACK's
Winograd F(6x6, 3x3) needs about a quarter of the multiplications of a direct convolution, with
fp32 results equal up to rounding (measurements: bench/results/cpu_notes.md). NNPACK works on NCHW
tensors, while oneDNN's stem convolution and max-pooling are faster channels-last;
``channels_last_stem`` therefore runs the modules before the first Winograd convolution
channels-last and the rest NCHW.
"""

from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from swiftnet_ros.infer.rewrites.surgery import set_submodule

# Below this many output pixels NNPACK's transforms cost more than they save (bench/results/cpu_notes.md).
MIN_PIXELS = 512


def nnpack_available() -> bool:
    """NNPACK is compiled into x86 and ARM builds of PyTorch (1.10 included) but may be absent."""
    check = getattr(torch, "_nnpack_available", None)
    return bool(check and check()) and hasattr(torch, "_nnpack_spatial_convolution")


def winograd_eligible(conv: nn.Module) -> bool:
    """3x3, stride 1, no dilation, no groups, zero padding smaller than the kernel: what NNPACK does."""
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros"
            and isinstance(conv.padding, tuple) and all(p < 3 for p in conv.padding))


class WinogradConv2d(nn.Module):
    """A 3x3 stride-1 Conv2d computed by NNPACK (float32 CPU, large enough maps), else by F.conv2d."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if not winograd_eligible(conv):
            raise ValueError("WinogradConv2d needs a 3x3 stride-1 ungrouped Conv2d, got {}".format(conv))
        self.weight = conv.weight
        self.bias = conv.bias
        self.padding = [int(p) for p in conv.padding]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.dtype == torch.float32 and x.shape[-2] * x.shape[-1] >= MIN_PIXELS:
            weight = self.weight.contiguous()
            return torch._nnpack_spatial_convolution(x.contiguous(), weight, self.bias, self.padding, [1, 1])
        return F.conv2d(x, self.weight, self.bias, 1, self.padding)


def use_winograd(model: nn.Module) -> List[str]:
    """Replace every eligible Conv2d by a WinogradConv2d in place; returns their names."""
    if not nnpack_available():
        raise ValueError("winograd=True needs NNPACK, which this PyTorch {} lacks; use winograd=False"
                         .format(torch.__version__))
    names = [n for n, m in model.named_modules() if winograd_eligible(m)]
    for name in names:
        set_submodule(model, name, WinogradConv2d(dict(model.named_modules())[name]))
    return names


def channels_last_stem(model: nn.Module, example: torch.Tensor) -> List[str]:
    """Make the leaf modules that run before the first WinogradConv2d channels-last; returns their names.

    Found by one forward with hooks, so it follows the model's actual execution order.
    """
    order: List[str] = []
    handles = []
    for name, module in model.named_modules():
        if len(list(module.children())) == 0 or isinstance(module, WinogradConv2d):
            handles.append(module.register_forward_pre_hook(
                lambda m, inputs, name=name: order.append(name) if name not in order else None))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    modules = dict(model.named_modules())
    stem = []
    for name in order:
        if isinstance(modules[name], WinogradConv2d):
            break
        stem.append(name)
    for name in stem:
        modules[name].to(memory_format=torch.channels_last)
    return stem
