"""MobileNet V2 encoder with torchvision's state-dict key names (features.0 .. features.17).

SwiftNet taps the 24-, 32-, 96- and 320-channel block outputs at strides 4, 8, 16, 32
(features[3], [6], [13], [17]); the final 1x1 conv to 1280 channels (features.18) and the
classifier belong to the ImageNet head and are not built. With levels > 1 every BatchNorm
becomes a LevelBatchNorm, one BN per pyramid level ("<name>.<level>.*").
"""

from typing import List

import torch.nn as nn

from .blocks import Tensor, make_norm

# (expansion t, output channels c, repeats n, first stride s) of the MobileNet V2 paper
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
            (6, 320, 1, 1)]
TAPS = (3, 6, 13, 17)


class ConvNormReLU6(nn.Sequential):
    """conv -> BN -> ReLU6 (torchvision's Conv2dNormActivation: keys 0.* conv, 1.* norm)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, levels: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups,
                      bias=False),
            make_norm(out_channels, levels),
            nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int,
                 levels: int = 1) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.use_residual = stride == 1 and in_channels == out_channels
        layers = []  # type: List[nn.Module]
        if expansion != 1:
            layers.append(ConvNormReLU6(in_channels, hidden, 1, levels=levels))
        layers += [ConvNormReLU6(hidden, hidden, 3, stride, groups=hidden, levels=levels),
                   nn.Conv2d(hidden, out_channels, 1, bias=False),
                   make_norm(out_channels, levels)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """Returns the four tapped block outputs (strides 4, 8, 16, 32; 24/32/96/320 channels)."""

    channels = [24, 32, 96, 320]

    def __init__(self, levels: int = 1) -> None:
        super().__init__()
        blocks = [ConvNormReLU6(3, 32, 3, stride=2, levels=levels)]  # type: List[nn.Module]
        in_channels = 32
        for t, c, n, s in SETTINGS:
            for i in range(n):
                blocks.append(InvertedResidual(in_channels, c, s if i == 0 else 1, t, levels))
                in_channels = c
        self.features = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> List[Tensor]:
        taps = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in TAPS:
                taps.append(x)
        return taps
