"""Decoder building blocks: BN-ReLU-Conv units, blend variants, SPP, upsampling modules.

All sizes handed to resizing and pooling are plain Python ints taken from feature shapes, so a
traced model exports to ONNX (opset 13) with constant sizes.
"""

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

Tensor = torch.Tensor


# ---------------------------------------------------------------- per-level batch norm (pyramid)
class LevelBatchNorm(nn.ModuleList):
    """One BatchNorm2d per pyramid level (keys "<name>.<level>.*", as the reference stores them).

    The convolutions are shared between levels, the statistics are not: the pyramid model sets
    ``level`` (``set_level``) before running the encoder on each level's image, so the blocks
    keep torchvision's plain ``forward(x)``.
    """

    def __init__(self, channels: int, levels: int) -> None:
        super().__init__([nn.BatchNorm2d(channels) for _ in range(levels)])
        self.level = 0

    def forward(self, x: Tensor) -> Tensor:
        return self[self.level](x)


def make_norm(channels: int, levels: int = 1) -> nn.Module:
    """One BatchNorm2d, or a LevelBatchNorm for a pyramid encoder (levels > 1)."""
    if levels <= 1:
        return nn.BatchNorm2d(channels)
    return LevelBatchNorm(channels, levels)


def set_level(module: nn.Module, level: int) -> None:
    """Make every LevelBatchNorm inside module use the statistics of pyramid level ``level``."""
    for m in module.modules():
        if isinstance(m, LevelBatchNorm):
            if not 0 <= level < len(m):
                raise ValueError("pyramid level {}: expected 0 to {}".format(level, len(m) - 1))
            m.level = level


# ---------------------------------------------------------------- resizing and pooling
def spatial_size(x: Tensor) -> Tuple[int, int]:
    """(height, width) as plain ints, also while tracing for ONNX export."""
    return int(x.shape[-2]), int(x.shape[-1])


def resize(x: Tensor, size: Tuple[int, int], mode: str) -> Tensor:
    """Bilinear (align_corners=False, as the reference) or nearest resize to size=(h, w)."""
    if spatial_size(x) == tuple(size):
        return x
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode=mode, align_corners=False)


def _pool_matrix(n: int, g: int) -> List[List[float]]:
    rows = []
    for i in range(g):
        start, end = (i * n) // g, -((-(i + 1) * n) // g)
        rows.append([1.0 / (end - start) if start <= j < end else 0.0 for j in range(n)])
    return rows


def adaptive_avg_pool(x: Tensor, grid: Tuple[int, int]) -> Tensor:
    """Same bins as F.adaptive_avg_pool2d, but exportable to ONNX for any input size.

    ONNX has no adaptive pooling: divisible sizes become an AveragePool, others two small
    constant averaging matrices (bins of adaptive pooling are rectangles, so rows and columns
    can be averaged separately).
    """
    h, w = spatial_size(x)
    gh, gw = grid
    if h % gh == 0 and w % gw == 0:
        return F.avg_pool2d(x, kernel_size=(h // gh, w // gw))
    rows = torch.tensor(_pool_matrix(h, gh), dtype=x.dtype, device=x.device)
    cols = torch.tensor(_pool_matrix(w, gw), dtype=x.dtype, device=x.device)
    return torch.matmul(rows, torch.matmul(x, cols.t()))


# ---------------------------------------------------------------- units
class BNReLUConv(nn.Sequential):
    """Pre-activation unit of the reference code: BN -> ReLU -> conv (keys norm.*, conv.*)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, bias: bool = False,
                 conv: Optional[nn.Module] = None) -> None:
        super().__init__()
        if conv is None:
            conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.add_module("norm", nn.BatchNorm2d(in_channels))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", conv)


class SeparableConv2d(nn.Sequential):
    """Depthwise 3x3 then pointwise 1x1, no norm between (the reference's SeparableConv2d)."""

    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.add_module("depthwise", nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False))
        self.add_module("pointwise", nn.Conv2d(channels, out_channels, 1, bias=False))


class InvertedResidualBlend(nn.Module):
    """BN-ReLU, then MobileNet V2's inverted residual (1x1 expand, BN-ReLU, depthwise 3x3, BN-ReLU,
    1x1 project) added to the input. Expansion 2 gives supplement Table 1's 405 K parameters."""

    def __init__(self, channels: int, expansion: int = 2) -> None:
        super().__init__()
        hidden = channels * expansion
        self.norm = nn.BatchNorm2d(channels)
        self.expand = nn.Conv2d(channels, hidden, 1, bias=False)
        self.expand_norm = nn.BatchNorm2d(hidden)
        self.depthwise = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False)
        self.depthwise_norm = nn.BatchNorm2d(hidden)
        self.project = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.expand(F.relu(self.norm(x)))
        y = self.depthwise(F.relu(self.expand_norm(y)))
        y = self.project(F.relu(self.depthwise_norm(y)))
        return x + y


def make_blend(kind: str, channels: int) -> nn.Module:
    """The blend conv of an upsampling module (supplement Table 1 variants)."""
    if kind == "3x3":
        return BNReLUConv(channels, channels, 3)
    if kind == "1x1":
        return BNReLUConv(channels, channels, 1)
    if kind == "grouped":
        grouped = nn.Conv2d(channels, channels, 3, padding=1, groups=8, bias=False)
        return BNReLUConv(channels, channels, conv=grouped)
    if kind == "separable":
        return BNReLUConv(channels, channels, conv=SeparableConv2d(channels, channels))
    if kind == "inverted_residual":
        return InvertedResidualBlend(channels)
    raise ValueError("blend={!r}: expected 3x3, grouped, separable, 1x1 or inverted_residual".format(kind))


# ---------------------------------------------------------------- SwiftNet modules
class SpatialPyramidPooling(nn.Module):
    """SPP of the single-scale model: BN-ReLU-1x1 in->128, levels pooled to grids
    (g, max(1, round(g * w / h))) for g = 8, 4, 2 (h x w: the feature map), each BN-ReLU-1x1
    128->42 and resized back, concatenated with the input level, fused by BN-ReLU-1x1 254->128."""

    def __init__(self, in_channels: int, num_features: int = 128, grids: Sequence[int] = (8, 4, 2),
                 mode: str = "bilinear") -> None:
        super().__init__()
        # BN momentum: PyTorch's default 0.1. The reference's 0.005 here only suits its ~50 K
        # iterations; short runs would evaluate with running statistics that lag far behind.
        level_size = num_features // len(grids)
        self.grids = tuple(grids)
        self.mode = mode
        self.bottleneck = BNReLUConv(in_channels, num_features, 1)
        self.levels = nn.ModuleList([BNReLUConv(num_features, level_size, 1) for _ in self.grids])
        self.fuse = BNReLUConv(num_features + level_size * len(self.grids), num_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = spatial_size(x)
        x = self.bottleneck(x)
        outputs = [x]
        for g, level in zip(self.grids, self.levels):
            pooled = adaptive_avg_pool(x, (g, max(1, int(round(g * w / h)))))
            outputs.append(resize(level(pooled), (h, w), self.mode))
        return self.fuse(torch.cat(outputs, 1))


class UpsampleModule(nn.Module):
    """Single-scale decoder step: lateral BN-ReLU-1x1 on the skip, resize the path to it, add, blend."""

    def __init__(self, skip_channels: int, num_features: int, blend: str, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.lateral = BNReLUConv(skip_channels, num_features, 1)
        self.blend = make_blend(blend, num_features)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        skip = self.lateral(skip)
        return self.blend(resize(x, spatial_size(skip), self.mode) + skip)


class UpsampleBlend(nn.Module):
    """Pyramid decoder step: the skip is already projected; resize the path to it, add, blend."""

    def __init__(self, num_features: int, blend: str, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.blend = make_blend(blend, num_features)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.blend(resize(x, spatial_size(skip), self.mode) + skip)
