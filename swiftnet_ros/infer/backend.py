"""What every inference backend provides, and the argument checks they share.

A backend takes a batch of RGB images (N x 3 x H x W float32 or uint8, values 0-255, already on the
backend's torch device) and returns class scores or labels on that same device, so that the
argmax runs where the model ran and only the small uint8 label map crosses to the host (and,
when asked for, the uint8 confidence map computed beside it: ``labels_confidence``).
"""

import functools
from typing import Optional, Tuple

import torch

from swiftnet_ros.choices import BF16, DEVICE_NAMES, FP16, PRECISIONS, is_device_name
from swiftnet_ros.infer.cpu import read_cpu_flags
from swiftnet_ros.infer.postprocess import labels_and_confidence, sparse_argmax
from swiftnet_ros.model.blocks import resize
from swiftnet_ros.model.config import UPSAMPLE_MODES

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 flags of bf16 arithmetic (oneDNN's bf16 convolutions)


def resolve_device(device: str) -> torch.device:
    """Turn "auto" | "cpu" | "cuda" | "cuda:N" into a torch.device, refusing CUDA where there is none."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError("device must be a string such as 'auto', 'cpu' or 'cuda:0', got {!r}".format(device))
    if not is_device_name(device):
        raise ValueError("unknown device {!r}; expected {}".format(device, DEVICE_NAMES))
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device {!r} requested but CUDA is not available here; use device='cpu'"
                         .format(device))
    return resolved


@functools.lru_cache(maxsize=1)
def cpu_has_bf16_kernels() -> bool:
    """Whether this PyTorch has the bf16 CPU kernels a SwiftNet forward needs besides convolutions
    (batch norm, channels-last pooling, bilinear and bicubic resizes): PyTorch 1.10 (the Jetson's)
    has none of them."""
    f = torch.nn.functional
    x = torch.zeros(1, 2, 4, 4, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    try:
        f.batch_norm(x, torch.zeros(2, dtype=torch.bfloat16), torch.ones(2, dtype=torch.bfloat16))
        f.max_pool2d(x, 3, 2, 1)
        f.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False)
        f.interpolate(x, size=(2, 2), mode="bicubic", align_corners=False)
    except RuntimeError:  # PyTorch 1.10: "... not implemented for 'BFloat16'"
        return False
    return True


def cuda_has_bf16(device: torch.device) -> bool:
    """Native bf16 on this GPU (Ampere and newer: compute capability >= 8; PyTorch's newer
    is_bf16_supported also counts slow emulation on older GPUs, which is not offered here)."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8


def check_precision(precision: str, device: torch.device) -> str:
    """``precision`` if ``device`` runs it fast, else a ValueError saying what is missing.

    fp16 is a CUDA feature here: CPU half-precision convolutions are slow or missing in PyTorch.
    bf16 needs bf16 arithmetic: a CPU with AVX512-BF16 or AMX (``read_cpu_flags``; elsewhere oneDNN
    emulates it, slower than fp32) and a PyTorch with bf16 CPU kernels, or a GPU with native bf16.
    """
    if precision not in PRECISIONS:
        raise ValueError("unknown precision {!r}; expected one of {}"
                         .format(precision, ", ".join(PRECISIONS)))
    if precision == FP16 and device.type != "cuda":
        raise ValueError("precision 'fp16' needs a CUDA device, got device {!r}; use precision='fp32' on CPU"
                         .format(str(device)))
    if precision == BF16:
        if device.type == "cuda" and not cuda_has_bf16(device):
            raise ValueError("precision 'bf16' needs a GPU with bf16 (compute capability 8.0 or newer); {} "
                             "is a {} ({}.{}); use precision 'fp16'".format(
                                 str(device), torch.cuda.get_device_name(device),
                                 *torch.cuda.get_device_capability(device)))
        if device.type != "cuda" and not read_cpu_flags().intersection(BF16_CPU_FLAGS):
            raise ValueError("precision 'bf16' needs a CPU with AVX512-BF16 or AMX (this CPU has neither) or "
                             "a CUDA GPU with bf16; use precision 'fp32'")
        if device.type != "cuda" and not cpu_has_bf16_kernels():
            raise ValueError("precision 'bf16' on a CPU needs PyTorch's bf16 CPU kernels (batch norm, "
                             "pooling, resizes), which PyTorch {} lacks; use precision 'fp32'"
                             .format(torch.__version__))
    return precision


def check_batch(x: torch.Tensor, device: torch.device) -> None:
    """Backends take N x 3 x H x W float32 or uint8 RGB on their own device; anything else is a caller bug."""
    if not isinstance(x, torch.Tensor):
        raise ValueError("expected a torch.Tensor batch, got {}".format(type(x).__name__))
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError("expected a batch of shape N x 3 x H x W, got {}".format(tuple(x.shape)))
    if x.dtype not in (torch.float32, torch.uint8):
        raise ValueError("expected a float32 or uint8 batch (RGB 0-255), got {}".format(x.dtype))
    if x.device.type != device.type:
        raise ValueError("batch is on {} but the backend runs on {}".format(x.device, device))


class Backend:
    """Base class: subclasses set the attributes and implement ``logits`` (and may override ``labels``).

    Attributes:
        name: "torch" | "onnxruntime" | "tensorrt".
        device: the torch device the inputs and outputs live on.
        precision: "fp32" | "fp16".
        fixed_size: (H, W) the backend requires (ONNX / engines have static shapes), or None for any.
        num_classes: number of output classes.
        outputs_labels: True when the graph itself ends in an argmax (no scores available).
    """

    name = "base"

    def __init__(self, device: torch.device, precision: str, num_classes: int,
                 fixed_size: Optional[Tuple[int, int]] = None, outputs_labels: bool = False) -> None:
        self.device = device
        self.precision = precision
        self.num_classes = num_classes
        self.fixed_size = fixed_size
        self.outputs_labels = outputs_labels

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x H x W float32 or uint8 RGB -> N x C x H x W float class scores on ``self.device``."""
        raise NotImplementedError

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x H x W float32 or uint8 RGB -> N x H x W uint8 labels on ``self.device`` (argmax there)."""
        return self.logits(x).argmax(1).to(torch.uint8)

    def labels_confidence(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``labels`` and round(255 x max softmax probability), both N x H x W uint8 on ``self.device``."""
        return labels_and_confidence(self.logits(x))

    def check_input(self, x: torch.Tensor) -> None:
        check_batch(x, self.device)
        if self.fixed_size is not None and tuple(x.shape[2:]) != tuple(self.fixed_size):
            raise ValueError("the {} backend was built for input size {}x{} (HxW), got {}x{}".format(
                self.name, self.fixed_size[0], self.fixed_size[1], x.shape[2], x.shape[3]))

    def describe(self) -> str:
        return "{} {} on {}".format(self.name, self.precision, self.device)


class StaticGraphBackend(Backend):
    """An exported graph (ONNX model, TensorRT engine): subclasses implement ``_run``, which returns
    the graph's output (scores, or labels where the graph ends in an argmax) in a reused buffer.

    ``upsample``: None where the graph's scores are at the input size; the model's resize mode where
    the graph stops at the stride-4 logits (``--argmax host_stride4``). Those are then resized as in
    the model for ``logits`` and the confidence, and ``labels`` takes the exact argmax of their resize
    without resizing every class map (``postprocess.py``), on the backend's device.
    """

    graph_kind = "graph"  # how errors name it: "ONNX model", "engine"

    def __init__(self, device: torch.device, precision: str, num_classes: int,
                 fixed_size: Optional[Tuple[int, int]] = None, outputs_labels: bool = False,
                 upsample: Optional[str] = None) -> None:
        super().__init__(device, precision, num_classes, fixed_size=fixed_size, outputs_labels=outputs_labels)
        if upsample is not None and upsample not in UPSAMPLE_MODES:
            raise ValueError("upsample {!r}: expected the model's resize mode, one of {}"
                             .format(upsample, ", ".join(UPSAMPLE_MODES)))
        if upsample is not None and outputs_labels:
            raise ValueError("this {} ends in an argmax: it has no stride-4 logits to resize"
                             .format(self.graph_kind))
        self.upsample = upsample

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _scores(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """float class scores at the input size from the graph's output ``out``: as they are, or (stride-4
        logits) resized as in the model."""
        scores = out.float()
        if self.upsample is not None:
            scores = resize(scores, (int(x.shape[-2]), int(x.shape[-1])), self.upsample)
        return scores

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.outputs_labels:
            raise ValueError("this {} ends in an argmax (exported with --argmax in_graph): it has no "
                             "class scores for multi-scale or ensemble inference".format(self.graph_kind))
        out = self._run(x)
        scores = self._scores(out, x)
        # the bound output buffer is reused by the next call
        return scores.clone() if scores.data_ptr() == out.data_ptr() else scores

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        out = self._run(x)
        if self.outputs_labels:
            return out.to(torch.uint8)
        if self.upsample is not None:
            return sparse_argmax(out, (int(x.shape[-2]), int(x.shape[-1])), self.upsample)
        return out.argmax(1).to(torch.uint8)

    def labels_confidence(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.outputs_labels:
            raise ValueError("this {} ends in an argmax (exported with --argmax in_graph): it has no class "
                             "scores for a confidence map; export it with --argmax host"
                             .format(self.graph_kind))
        return labels_and_confidence(self._scores(self._run(x), x))  # on the device
