"""Multi-scale + flip inference and model ensembles, with averaged class probabilities (the paper's).

The paper evaluates at scales 0.5, 0.75, 1, 1.25, 1.5 (+0.9 mIoU) and ensembles a single-scale
and a pyramid model (77.1 mIoU): each pass's logits are bilinearly resized to the image size,
turned into probabilities with a softmax, and all passes are averaged before the argmax.
Scores at any input size are needed, so this runs on torch backends (ONNX / engines have
static shapes).
"""

import time
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from swiftnet_ros.infer.backend import check_precision, resolve_device
from swiftnet_ros.infer.base import SegmentationResult, SegmenterBase, check_output_size
from swiftnet_ros.infer.postprocess import probability_confidence
from swiftnet_ros.infer.segmenter import check_image, image_to_batch, resize_labels, sync
from swiftnet_ros.infer.weights import load_torch_weights

PAPER_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5)


def check_scales(scales: Sequence[float]) -> Tuple[float, ...]:
    try:
        values = tuple(float(s) for s in scales)
    except (TypeError, ValueError):
        raise ValueError("scales must be a sequence of positive numbers, got {!r}".format(scales)) from None
    if not values or min(values) <= 0:
        raise ValueError("scales must be a non-empty sequence of positive numbers, got {!r}".format(scales))
    return values


def multiscale_probabilities(logits_fns: Sequence[Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor,
                             scales: Sequence[float] = (1.0,), flip: bool = False) -> torch.Tensor:
    """Average softmax probabilities of every function x every scale (x every flip) at x's size.

    Each function maps N x 3 x h x w RGB 0-255 to N x C x h' x w' logits (any h', w').
    Returns N x C x H x W float32 probabilities.
    """
    scales = check_scales(scales)
    if not logits_fns:
        raise ValueError("need at least one model")
    height, width = int(x.shape[2]), int(x.shape[3])
    total: Optional[torch.Tensor] = None
    count = 0
    for fn in logits_fns:
        for scale in scales:
            size = (max(1, int(round(height * scale))), max(1, int(round(width * scale))))
            xs = x
            if size != (height, width):
                xs = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            for flipped in ((False, True) if flip else (False,)):
                logits = fn(xs.flip(3) if flipped else xs).float()
                if flipped:
                    logits = logits.flip(3)
                if tuple(logits.shape[2:]) != (height, width):
                    logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
                probs = torch.softmax(logits, dim=1)
                if total is None:
                    total = probs
                elif total.shape[1] != probs.shape[1]:
                    raise ValueError("ensemble members disagree on the number of classes: {} vs {}".format(
                        total.shape[1], probs.shape[1]))
                else:
                    total = total + probs
                count += 1
    return total / count


class MultiScaleSegmenter(SegmenterBase):
    """Multi-scale / flip / ensemble inference behind the segmenter interface (``base.SegmenterBase``).

    ``weights``: one checkpoint or preset, or a list of them (an ensemble; same classes required).
    Models run through the torch backend (BN folding, channels_last); ``input_size`` = (H, W) is the
    scale-1 size (None: the image's own size).
    """

    def __init__(self, weights: Union[str, Sequence[str]], scales: Sequence[float] = PAPER_SCALES,
                 flip: bool = True, device: str = "auto", precision: str = "fp32",
                 input_size: Optional[Tuple[int, int]] = None, output_size: str = "input") -> None:
        from swiftnet_ros.infer.backend_torch import TorchBackend

        names = [weights] if isinstance(weights, str) else list(weights)
        if not names:
            raise ValueError("weights: expected a checkpoint/preset or a non-empty list of them")
        self.device = resolve_device(device)
        self.precision = check_precision(precision, self.device)
        self.scales = check_scales(scales)
        self.flip = bool(flip)
        self.output_size = check_output_size(output_size)
        self.input_size = tuple(int(v) for v in input_size) if input_size is not None else None
        self.backends: List[TorchBackend] = []
        metas = []
        for name in names:
            model, meta = load_torch_weights(name)
            self.backends.append(TorchBackend(model, self.device, self.precision))
            metas.append(meta)
        self.class_names = list(metas[0]["class_names"])
        for name, meta in zip(names[1:], metas[1:]):
            if list(meta["class_names"]) != self.class_names:
                raise ValueError("ensemble member {!r} has classes {} but the first has {}".format(
                    name, meta["class_names"], self.class_names))
        self.num_classes = len(self.class_names)
        self.palette = metas[0]["palette"]
        self.model_name = "+".join(m["model_name"] for m in metas)
        self.backend_name = "torch"
        self.backend_reason = "multi-scale and ensemble inference run the PyTorch models themselves"

    def probabilities(self, image: np.ndarray, rgb: bool = True) -> torch.Tensor:
        """1 x C x h x w averaged probabilities at the model input size."""
        return self._probabilities(self._batch(image, rgb))

    def _batch(self, image: np.ndarray, rgb: bool) -> torch.Tensor:
        return image_to_batch(image, rgb, self.device, self.input_size or (image.shape[0], image.shape[1]))

    def _probabilities(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return multiscale_probabilities([b.logits for b in self.backends], x, self.scales, self.flip)

    def segment(self, image: np.ndarray, rgb: bool = True, confidence: bool = False) -> SegmentationResult:
        """Labels of the averaged probabilities; ``confidence``: round(255 x the winner's averaged
        probability), taken on the device beside the argmax."""
        check_image(image)
        start = time.perf_counter()
        x = self._batch(image, rgb)
        sync(self.device)
        t_pre = time.perf_counter()
        probabilities = self._probabilities(x)
        labels = probabilities.argmax(1).to(torch.uint8)
        maps = [labels, probability_confidence(probabilities, labels)] if confidence else [labels]
        sync(self.device)
        t_inf = time.perf_counter()
        if self.output_size == "input":
            maps = [resize_labels(m, image.shape[:2]) for m in maps]
        out = [m[0].cpu().numpy() for m in maps]
        end = time.perf_counter()
        timings = {"preprocess": (t_pre - start) * 1e3, "inference": (t_inf - t_pre) * 1e3,
                   "postprocess": (end - t_inf) * 1e3, "total": (end - start) * 1e3}
        return SegmentationResult(out[0], timings, out[1] if confidence else None)

    def describe(self) -> str:
        return "{} x scales {}{} (torch {} on {})".format(
            self.model_name, ",".join("%g" % s for s in self.scales), " + flip" if self.flip else "",
            self.precision, self.device)
