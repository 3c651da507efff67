"""ResNet-18 encoder with torchvision's state-dict key names (conv1, bn1, layer1..4).

With levels > 1 (pyramid model) every BatchNorm becomes a LevelBatchNorm, one BN per pyramid
level stored as "<name>.<level>.*" like the reference code; the convolutions stay shared.
"""

from typing import List

import torch
import torch.nn as nn

from .blocks import Tensor, make_norm


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int = 1, levels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = make_norm(channels, levels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = make_norm(channels, levels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                            make_norm(channels, levels))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.residual(x))

    def residual(self, x: Tensor) -> Tensor:
        """The block's sum before its final ReLU."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            x = self.downsample(x)
        return out + x


class ResNet18(nn.Module):
    """Returns the four stage outputs (strides 4, 8, 16, 32; 64/128/256/512 channels).

    pre_relu_taps=False: the stage outputs after the final ReLU. The reference single-scale
    model's in-place ReLU overwrites the pre-ReLU sum, so its trained weights expect these.
    pre_relu_taps=True: the sums before that ReLU (the reference pyramid model uses a
    non-in-place ReLU, so its laterals see these).
    """

    channels = [64, 128, 256, 512]

    def __init__(self, levels: int = 1, pre_relu_taps: bool = False) -> None:
        super().__init__()
        self.pre_relu_taps = pre_relu_taps
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = make_norm(64, levels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 64, 1, levels)
        self.layer2 = self._make_layer(64, 128, 2, levels)
        self.layer3 = self._make_layer(128, 256, 2, levels)
        self.layer4 = self._make_layer(256, 512, 2, levels)

    @staticmethod
    def _make_layer(in_channels: int, channels: int, stride: int, levels: int) -> nn.Sequential:
        return nn.Sequential(BasicBlock(in_channels, channels, stride, levels),
                             BasicBlock(channels, channels, 1, levels))

    def forward(self, x: Tensor) -> List[Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        features = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            if self.pre_relu_taps:
                first, last = layer
                tap = last.residual(first(x))
                x = torch.relu(tap)
            else:
                x = tap = layer(x)
            features.append(tap)
        return features
