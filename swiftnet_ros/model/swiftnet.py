"""SwiftNet (Orsic et al., CVPR 2019): single-scale (SPP) and interleaved pyramid fusion models."""

import itertools
from typing import Any, Dict, Iterator, List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import (
    BNReLUConv,
    SpatialPyramidPooling,
    Tensor,
    UpsampleBlend,
    UpsampleModule,
    resize,
    set_level,
    spatial_size,
)
from .config import ModelConfig, get_config
from .mobilenet import MobileNetV2
from .resnet import ResNet18


def make_encoder(config: ModelConfig) -> nn.Module:
    levels = max(1, config.pyramid_levels)
    if config.encoder == "resnet18":
        return ResNet18(levels, pre_relu_taps=config.pyramid_levels > 0)
    return MobileNetV2(levels)


class SingleScaleDecoder(nn.Module):
    """SPP on the stride-32 features, then three upsampling modules (strides 16, 8, 4)."""

    def __init__(self, channels: List[int], config: ModelConfig) -> None:
        super().__init__()
        nf = config.num_features
        self.spp = SpatialPyramidPooling(channels[3], nf, mode=config.upsample)
        self.upsample = nn.ModuleList(  # strides 16, 8, 4
            [UpsampleModule(c, nf, config.blend, config.upsample) for c in channels[2::-1]])

    def forward(self, features: List[List[Tensor]]) -> Tensor:
        feats = features[0]
        x = self.spp(feats[3])
        for module, skip in zip(self.upsample, (feats[2], feats[1], feats[0])):
            x = module(x, skip)
        return x


class PyramidDecoder(nn.Module):
    """Interleaved pyramid fusion: stage s of pyramid level l lands at stride 4 * 2 ** (l + s);
    laterals (1x1 conv, shared by all levels) of equal resolution are summed and blended from the
    coarsest (stride 32 * 2 ** (levels - 1)) to stride 4, as in the reference code."""

    def __init__(self, channels: List[int], config: ModelConfig) -> None:
        super().__init__()
        nf = config.num_features
        self.levels = config.pyramid_levels
        self.mode = config.upsample
        self.laterals = nn.ModuleList([nn.Conv2d(c, nf, 1, bias=False) for c in channels])
        self.blends = nn.ModuleList(
            [UpsampleBlend(nf, config.blend, config.upsample) for _ in range(self.levels + 2)])

    def forward(self, features: List[List[Tensor]]) -> Tensor:
        by_stride = [[] for _ in range(self.levels + 3)]  # type: List[List[Tensor]]
        for level, feats in enumerate(features):
            for stage, (lateral, f) in enumerate(zip(self.laterals, feats)):
                by_stride[level + stage].append(lateral(f))
        x = by_stride[-1][0]
        for blend, skips in zip(self.blends, by_stride[-2::-1]):
            x = blend(x, self._sum(skips))
        return x

    def _sum(self, skips: List[Tensor]) -> Tensor:
        # Odd image sizes round differently per level; resize stragglers to the finest level's size.
        size = spatial_size(skips[0])
        total = skips[0]
        for s in skips[1:]:
            total = total + resize(s, size, self.mode)
        return total


class SwiftNet(nn.Module):
    """Input: N x 3 x H x W RGB in 0-255 (float, or uint8; any H, W; never modified). Output: N x C x H x W
    logits in the model's dtype, or stride-4 logits with full_resolution=False. Normalisation is
    inside (mean/std buffers)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.tensor(config.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(config.std, dtype=torch.float32).view(1, 3, 1, 1))
        self.encoder = make_encoder(config)
        channels = self.encoder.channels
        if config.pyramid_levels:
            self.decoder = PyramidDecoder(channels, config)  # type: nn.Module
        else:
            self.decoder = SingleScaleDecoder(channels, config)
        k = config.logits_kernel
        self.logits = BNReLUConv(config.num_features, config.num_classes, k, bias=k == 1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor, full_resolution: bool = True) -> Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError("SwiftNet takes an N x 3 x H x W torch.Tensor (RGB 0-255), got {}.{}: for an "
                            "(H, W, 3) image use swiftnet_ros.infer.Segmenter, or pass "
                            "torch.from_numpy(image).permute(2, 0, 1)[None]".format(
                                type(x).__module__, type(x).__name__))
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError("input of shape {}: expected N x 3 x H x W (RGB)".format(tuple(x.shape)))
        size = spatial_size(x)
        # a new tensor in the model's dtype (uint8 / fp32 into an fp16 model); the caller's stays untouched
        x = (x.to(self.mean.dtype) - self.mean) / self.std
        if self.config.pyramid_levels:
            features = []
            for level, image in enumerate(self._image_pyramid(x)):
                set_level(self.encoder, level)  # the shared encoder with this level's BatchNorms
                features.append(self.encoder(image))
            set_level(self.encoder, 0)
        else:
            features = [self.encoder(x)]
        logits = self.logits(self.decoder(features))
        if full_resolution:
            logits = resize(logits, size, self.config.upsample)
        return logits

    def _image_pyramid(self, x: Tensor) -> List[Tensor]:
        h, w = spatial_size(x)
        images = [x]
        for level in range(1, self.config.pyramid_levels):
            if self.config.upsample == "nearest":
                # for TensorRT 8.2 (no cubic resize): a 2^l x 2^l box average, no interpolation op
                images.append(F.avg_pool2d(x, 2 ** level))
            else:  # bicubic, as the reference pyramid model was trained
                size = (max(1, h >> level), max(1, w >> level))
                images.append(F.interpolate(x, size=size, mode="bicubic", align_corners=False))
        return images

    def encoder_parameters(self) -> Iterator[nn.Parameter]:
        """ImageNet-initialised parameters (the paper trains them with a 4x smaller learning rate)."""
        return self.encoder.parameters()

    def decoder_parameters(self) -> Iterator[nn.Parameter]:
        """Randomly initialised parameters: SPP / laterals / blends and the logits."""
        return itertools.chain(self.decoder.parameters(), self.logits.parameters())


def build_model(preset_or_config: Union[str, ModelConfig, Dict[str, Any]], num_classes: Optional[int] = None,
                **overrides: Any) -> SwiftNet:
    """A randomly initialised SwiftNet from a preset name (rn18, rn18-pyramid, mnv2, mnv2-pyramid,
    jetson-tx2), a config/models/*.yaml path, a dict or a ModelConfig; keyword overrides replace
    config fields (blend="grouped", upsample="nearest", ...). num_classes defaults to the config's (19)."""
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    return SwiftNet(get_config(preset_or_config, **overrides))
