"""What every inference backend provides, and the argument checks they share.

A backend takes a batch of RGB images (N x 3 x H x W float32 or uint8, values 0-255, already on the
backend's torch device) and returns class scores or labels on that same device, so that the
argmax runs where the model ran and only the small uint8 label map crosses to the host (and,
when asked for, the uint8 confidence map computed beside it: ``labels_confidence``).
"""

import re
from typing import Optional, Tuple

import torch

from swiftnet_ros.infer.options import PRECISIONS
from swiftnet_ros.infer.postprocess import bilinear_argmax, labels_and_confidence, nearest_argmax
from swiftnet_ros.model.blocks import resize
from swiftnet_ros.model.config import UPSAMPLE_MODES

DEVICE_NAMES = "auto, cpu, cuda or cuda:N"


def is_device_name(name: str) -> bool:
    """A device word this package takes (whether that device exists here is resolve_device's question)."""
    return isinstance(name, str) and re.match(r"^(auto|cpu|cuda(:\d+)?)$", name) is not None


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


def check_precision(precision: str, device: torch.device) -> str:
    """fp16 is a CUDA feature here: CPU half-precision convolutions are slow or missing in PyTorch."""
    if precision not in PRECISIONS:
        raise ValueError("unknown precision {!r}; expected one of {}"
                         .format(precision, ", ".join(PRECISIONS)))
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision 'fp16' needs a CUDA device, got device {!r}; use precision='fp32' on CPU"
                         .format(str(device)))
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
            size = (int(x.shape[-2]), int(x.shape[-1]))
            sparse = nearest_argmax if self.upsample == "nearest" else bilinear_argmax
            return sparse(out, size).to(torch.uint8)
        return out.argmax(1).to(torch.uint8)

    def labels_confidence(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.outputs_labels:
            raise ValueError("this {} ends in an argmax (exported with --argmax in_graph): it has no class "
                             "scores for a confidence map; export it with --argmax host"
                             .format(self.graph_kind))
        return labels_and_confidence(self._scores(self._run(x), x))  # on the device
