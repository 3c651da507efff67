"""An inference-only single-scale SwiftNet with every BatchNorm folded and the elementwise work fused.

Built from a trained ``SwiftNet`` (never modified); computes the same stride-4 logits with fewer
kernels and fewer passes over memory, which is what limits a GPU at batch 1:

* every conv -> BN pair is folded (encoder), and every BN that follows a sum in the decoder is
  folded into the producers of that sum: BN(resize(x) + lateral) = resize(s x) + (s lateral + t),
  because a bilinear or nearest resize commutes with a per-channel scale;
* conv + bias + ReLU and conv + bias + residual add + ReLU run as one cuDNN call each
  (``torch.cudnn_convolution_relu`` / ``torch.cudnn_convolution_add_relu``, CUDA only; elsewhere,
  or where cuDNN refuses a shape, the same arithmetic in plain ops);
* a pre-activation unit BN -> ReLU -> 1x1 conv becomes max(x, c) -> 1x1 conv, because
  ReLU(s x + t) = s max(x, -t / s) + t for s > 0, and s and t move into the conv (one kernel
  instead of two; the two-kernel form is kept where some s is not safely positive);
* the input normalisation becomes one uint8 -> half subtraction, the 1/std going into the first
  conv's weights (exact with zero padding: a normalised zero is a raw zero after the subtraction).

Single-scale models with the 3x3, 1x1, grouped or separable blend are supported (the pyramid models
and the inverted-residual blend raise ``ValueError``; use the generic BN folding for those).
"""

import copy
import logging
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from swiftnet_ros.infer.rewrites.fold_bn import fold_batchnorm
from swiftnet_ros.model.blocks import BNReLUConv, SeparableConv2d, resize, spatial_size

Tensor = torch.Tensor
LOG = logging.getLogger(__name__)

FUSABLE_BLENDS = ("3x3", "1x1", "grouped", "separable")


def has_cudnn_fusion() -> bool:
    """cuDNN's fused conv(+add)+bias+ReLU ops exist in this PyTorch (1.10+ builds with CUDA)."""
    return hasattr(torch, "cudnn_convolution_relu") and hasattr(torch, "cudnn_convolution_add_relu")


def is_compiling() -> bool:
    """True while torch.compile traces (PyTorch 2.x); always False on older PyTorch."""
    compiler = getattr(torch, "compiler", None)
    check = getattr(compiler, "is_compiling", None)
    return bool(check()) if callable(check) else False


def bn_scale_shift(bn: nn.BatchNorm2d) -> Tuple[Tensor, Tensor]:
    """(s, t) with BN(x) = s x + t per channel, from the running statistics (eval mode)."""
    s = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + bn.eps)
    t = bn.bias.detach().double() - bn.running_mean.detach().double() * s
    return s, t


def conv_weight_bias(conv: nn.Conv2d) -> Tuple[Tensor, Tensor]:
    """A convolution's weight and bias (zeros where it has none), in float64 for exact folding."""
    weight = conv.weight.detach().double()
    if conv.bias is None:
        return weight, torch.zeros(weight.shape[0], dtype=torch.float64, device=weight.device)
    return weight, conv.bias.detach().double()


class FusedConv(nn.Module):
    """conv2d with bias, optionally followed by ReLU or by (+ add) then ReLU, as one cuDNN call on CUDA."""

    def __init__(self, weight: Tensor, bias: Tensor, stride: Sequence[int], padding: Sequence[int],
                 groups: int, relu: bool, cudnn_fusion: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().float().clone(), requires_grad=False)
        self.bias = nn.Parameter(bias.detach().float().clone(), requires_grad=False)
        self.stride = tuple(int(v) for v in stride)
        self.padding = tuple(int(v) for v in padding)
        self.groups = int(groups)
        self.relu = relu
        self.cudnn_fusion = cudnn_fusion and has_cudnn_fusion()

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, relu: bool, cudnn_fusion: bool = True,
                  out_scale: Optional[Tensor] = None, out_shift: Optional[Tensor] = None) -> "FusedConv":
        """``conv`` followed by the per-channel affine s y + t (a folded BN, or a BN moved here)."""
        weight, bias = conv_weight_bias(conv)
        if out_scale is not None:
            weight = weight * out_scale.view(-1, 1, 1, 1)
            bias = bias * out_scale
        if out_shift is not None:
            bias = bias + out_shift
        return cls(weight, bias, conv.stride, conv.padding, conv.groups, relu, cudnn_fusion)

    def forward(self, x: Tensor, add: Optional[Tensor] = None) -> Tensor:
        if self.cudnn_fusion and x.is_cuda and self.relu:
            if is_compiling():  # torch.compile traces the cuDNN call as one op; no Python fallback inside
                return self._cudnn(x, add)
            try:
                return self._cudnn(x, add)
            except RuntimeError as error:  # cuDNN has no fused plan for this shape: plain ops from now on
                LOG.warning("cuDNN conv+ReLU fusion refused for %s (%s); using separate kernels",
                            self.extra_repr(), str(error).splitlines()[0][:120])
                self.cudnn_fusion = False
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, self.groups)
        if add is not None:
            y = y.add_(add)
        return y.relu_() if self.relu else y

    def _cudnn(self, x: Tensor, add: Optional[Tensor]) -> Tensor:
        if add is None:
            return torch.cudnn_convolution_relu(x, self.weight, self.bias, self.stride, self.padding, (1, 1),
                                                self.groups)
        return torch.cudnn_convolution_add_relu(x, self.weight, add, 1.0, self.bias, self.stride,
                                                self.padding, (1, 1), self.groups)

    def extra_repr(self) -> str:
        kind = "conv+add+relu" if self.relu else "conv"
        shape = self.weight.shape
        return "{}, {}x{}, stride={}, groups={}, {}".format(shape[1] * self.groups, shape[0], shape[2],
                                                           self.stride, self.groups, kind)


class PreActConv1x1(nn.Module):
    """BN -> ReLU -> 1x1 conv of the reference decoder, as max(x, c) -> 1x1 conv (see module docstring).

    ``out_scale`` / ``out_shift``: a per-channel affine applied after the conv (a following BN moved
    into it); ``relu``: ReLU after it (fused with the optional ``add``).
    """

    def __init__(self, unit: BNReLUConv, relu: bool = False, cudnn_fusion: bool = True,
                 out_scale: Optional[Tensor] = None, out_shift: Optional[Tensor] = None) -> None:
        super().__init__()
        conv = unit.conv
        if not isinstance(conv, nn.Conv2d) or conv.kernel_size != (1, 1) or conv.groups != 1:
            raise ValueError("PreActConv1x1 needs a plain 1x1 convolution, got {}".format(conv))
        s, t = bn_scale_shift(unit.norm)
        floor = -t / s.clamp(min=1e-30)
        # max(x, c) needs every s > 0; keep c well inside fp16's range so the trick stays exact in half
        self.use_max = bool((s > 1e-3).all()) and bool(floor.abs().max() < 1e4)
        weight, bias = conv_weight_bias(conv)
        if self.use_max:  # conv(s m + t) = (W diag(s)) m + W t
            bias = bias + weight[:, :, 0, 0] @ t
            weight = weight * s.view(1, -1, 1, 1)
            self.register_buffer("floor", floor.float().view(1, -1, 1, 1))
        else:
            self.register_buffer("scale", s.float().view(1, -1, 1, 1))
            self.register_buffer("shift", t.float().view(1, -1, 1, 1))
        if out_scale is not None:
            weight = weight * out_scale.view(-1, 1, 1, 1)
            bias = bias * out_scale
        if out_shift is not None:
            bias = bias + out_shift
        self.conv = FusedConv(weight, bias, (1, 1), (0, 0), 1, relu, cudnn_fusion)

    def forward(self, x: Tensor, add: Optional[Tensor] = None) -> Tensor:
        if self.use_max:
            x = torch.maximum(x, self.floor)
        else:
            x = torch.addcmul(self.shift, x, self.scale).relu_()
        return self.conv(x, add)


class FusedBasicBlock(nn.Module):
    """ResNet basic block: conv-ReLU, then conv + shortcut + ReLU in one call."""

    def __init__(self, block: nn.Module, cudnn_fusion: bool) -> None:
        super().__init__()
        self.conv1 = FusedConv.from_conv(block.conv1, True, cudnn_fusion, *bn_scale_shift(block.bn1))
        self.conv2 = FusedConv.from_conv(block.conv2, True, cudnn_fusion, *bn_scale_shift(block.bn2))
        self.downsample = None
        if block.downsample is not None:
            self.downsample = FusedConv.from_conv(block.downsample[0], False, cudnn_fusion,
                                                  *bn_scale_shift(block.downsample[1]))

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.conv2(self.conv1(x), add=shortcut)


class FusedResNet18(nn.Module):
    """The single-scale encoder: stage outputs after their final ReLU (strides 4, 8, 16, 32)."""

    def __init__(self, encoder: nn.Module, cudnn_fusion: bool, input_scale: Tensor) -> None:
        super().__init__()
        stem = FusedConv.from_conv(encoder.conv1, True, cudnn_fusion, *bn_scale_shift(encoder.bn1))
        stem.weight.data.mul_(input_scale.float().view(1, -1, 1, 1))  # input channels: the 1/std
        self.stem = stem
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stages = (encoder.layer1, encoder.layer2, encoder.layer3, encoder.layer4)
        self.layers = nn.ModuleList([nn.Sequential(*[FusedBasicBlock(b, cudnn_fusion) for b in stage])
                                     for stage in stages])

    def forward(self, x: Tensor) -> List[Tensor]:
        x = self.maxpool(self.stem(x))
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features


def folded_encoder(encoder: nn.Module, input_scale: Tensor) -> nn.Module:
    """Any other encoder (MobileNet V2): a copy with conv -> BN folded and the 1/std in its first conv."""
    encoder = copy.deepcopy(encoder).float().eval()
    fold_batchnorm(encoder, torch.zeros(1, 3, 64, 64))
    first = next(m for m in encoder.modules() if isinstance(m, nn.Conv2d))
    first.weight.data.mul_(input_scale.float().view(1, -1, 1, 1))
    return encoder


class FusedBlendConv(nn.Module):
    """The blend convolution (3x3, 1x1, grouped or separable) with the next BN moved into its last conv."""

    def __init__(self, conv: nn.Module, relu: bool, cudnn_fusion: bool, out_scale: Tensor,
                 out_shift: Optional[Tensor]) -> None:
        super().__init__()
        if isinstance(conv, SeparableConv2d):
            self.depthwise = FusedConv.from_conv(conv.depthwise, False, cudnn_fusion)  # type: Optional[FusedConv]
            conv = conv.pointwise
        else:
            self.depthwise = None
        self.conv = FusedConv.from_conv(conv, relu, cudnn_fusion, out_scale, out_shift)

    def forward(self, x: Tensor) -> Tensor:
        if self.depthwise is not None:
            x = self.depthwise(x)
        return self.conv(x)


def fused_spp(spp: nn.Module, cudnn_fusion: bool, out_scale: Tensor) -> nn.Module:
    """The SPP module itself (its own forward) with its pre-activation units as max-then-conv; the
    fuse conv carries the next BN's scale."""
    spp = copy.deepcopy(spp)
    spp.bottleneck = PreActConv1x1(spp.bottleneck, cudnn_fusion=cudnn_fusion)
    spp.levels = nn.ModuleList([PreActConv1x1(level, cudnn_fusion=cudnn_fusion) for level in spp.levels])
    spp.fuse = PreActConv1x1(spp.fuse, cudnn_fusion=cudnn_fusion, out_scale=out_scale)
    return spp


class FusedUpsample(nn.Module):
    """ReLU(lateral(skip) + resize(x)) in one cuDNN call (the blend BN folded into both), then the blend."""

    def __init__(self, module: nn.Module, cudnn_fusion: bool, next_scale: Tensor,
                 next_shift: Optional[Tensor], next_relu: bool) -> None:
        super().__init__()
        self.mode = module.mode
        s, t = bn_scale_shift(module.blend.norm)
        self.lateral = PreActConv1x1(module.lateral, relu=True, cudnn_fusion=cudnn_fusion, out_scale=s,
                                     out_shift=t)
        self.blend = FusedBlendConv(module.blend.conv, next_relu, cudnn_fusion, next_scale, next_shift)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        up = resize(x, spatial_size(skip), self.mode)
        if up.dtype == skip.dtype and not up.is_contiguous(memory_format=torch.channels_last) \
                and skip.is_contiguous(memory_format=torch.channels_last):
            up = up.contiguous(memory_format=torch.channels_last)
        return self.blend(self.lateral(skip, add=up))


def check_fusable(model: nn.Module) -> None:
    """ValueError unless ``model`` is a single-scale SwiftNet whose blends this module can fuse."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "decoder"):
        raise ValueError("fuse needs a SwiftNet model")
    if config.pyramid_levels:
        raise ValueError("fuse supports the single-scale models; {} is a pyramid model (use fold_bn)"
                         .format(getattr(config, "name", "this")))
    if config.blend not in FUSABLE_BLENDS:
        raise ValueError("fuse supports the {} blends, not {!r} (use fold_bn)"
                         .format(", ".join(FUSABLE_BLENDS), config.blend))


def is_fusable(model: nn.Module) -> bool:
    try:
        check_fusable(model)
        return True
    except ValueError:
        return False


class FusedSwiftNet(nn.Module):
    """Same stride-4 logits as ``SwiftNet(x, full_resolution=False)``; input N x 3 x H x W RGB 0-255 (uint8
    or float). Cast it with ``.half()`` / ``.to(memory_format=torch.channels_last)`` like any module."""

    def __init__(self, model: nn.Module, cudnn_fusion: bool = True) -> None:
        super().__init__()
        check_fusable(model)
        model = copy.deepcopy(model).float().eval().cpu()  # built on the CPU; move it with .to(device)
        self.config = model.config
        std = model.std.detach().double().view(-1)
        self.register_buffer("mean", model.mean.detach().float().clone())
        if model.config.encoder == "resnet18":
            self.encoder = FusedResNet18(model.encoder, cudnn_fusion, 1.0 / std)  # type: nn.Module
        else:
            self.encoder = folded_encoder(model.encoder, 1.0 / std)
        decoder = model.decoder
        ups = list(decoder.upsample)
        logit_s, logit_t = bn_scale_shift(model.logits.norm)
        blend_scales = [bn_scale_shift(m.blend.norm)[0] for m in ups]
        self.spp = fused_spp(decoder.spp, cudnn_fusion, blend_scales[0])
        modules = []
        for i, module in enumerate(ups):
            last = i == len(ups) - 1
            next_scale = logit_s if last else blend_scales[i + 1]
            modules.append(FusedUpsample(module, cudnn_fusion, next_scale, logit_t if last else None, last))
        self.upsample = nn.ModuleList(modules)
        self.logits = FusedConv.from_conv(model.logits.conv, False, cudnn_fusion)

    def forward(self, x: Tensor, full_resolution: bool = True) -> Tensor:
        size = spatial_size(x)
        if x.dtype != torch.uint8 and x.dtype != self.mean.dtype:
            x = x.to(self.mean.dtype)
        x = torch.sub(x, self.mean)  # uint8 - half -> half in one kernel, the input's layout kept
        feats = self.encoder(x)
        x = self.spp(feats[3])
        for module, skip in zip(self.upsample, (feats[2], feats[1], feats[0])):
            x = module(x, skip)
        logits = self.logits(x)
        if full_resolution:
            logits = resize(logits, size, self.config.upsample)
        return logits
