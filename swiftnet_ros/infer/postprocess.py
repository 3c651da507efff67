"""Full-resolution labels from stride-4 logits: resized as inside the model, or without resizing
every class map (CPU).

Resizing 19 class maps to full resolution and taking the argmax is a sizeable part of an RN-18
forward on a CPU (bench/results/cpu_notes.md). Bilinear interpolation is a convex combination of
the 4 source pixels around an output pixel, and if one class wins at all 4 sources it wins for
every convex combination of them. So the argmax is taken at stride 4, copied to the output pixels
whose 4 sources agree, and the interpolated scores are computed only for the others (class
boundaries, a few % of a trained model's pixels). The indices and weights follow PyTorch's
bilinear resize (align_corners=False), so the labels equal ``F.interpolate(...).argmax(1)`` up to
float rounding at exact ties.

The confidence map (``labels_and_confidence``) is round(255 x the winning class's softmax
probability), taken next to the argmax on the device, so one byte per pixel goes to the host.
"""

from typing import Callable, Tuple

import torch

from swiftnet_ros.model.blocks import resize

Postprocess = Callable[[torch.Tensor, Tuple[int, int], str], torch.Tensor]


def resize_argmax(logits: torch.Tensor, size: Tuple[int, int], mode: str) -> torch.Tensor:
    """Labels (N x H x W uint8) of the stride-4 logits resized to size=(H, W), as the model resizes them."""
    return resize(logits, size, mode).argmax(1).to(torch.uint8)


def label_agreement(labels: torch.Tensor, reference: torch.Tensor) -> float:
    """The share of pixels where two label maps of one shape agree (any integer dtypes): how the
    benchmarks, ``backend: auto``'s check and int8's fp32-layer search compare a path with another."""
    return float((labels.long() == reference.long()).float().mean())


def confidence_bytes(probability: torch.Tensor) -> torch.Tensor:
    """round(255 x p) as uint8, for probabilities p in 0..1."""
    return (probability.float() * 255.0).round().clamp(0, 255).to(torch.uint8)


def labels_and_confidence(scores: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """N x C x H x W class scores (logits) -> (labels, round(255 x max softmax probability)), both
    N x H x W uint8 on the scores' device; the labels are exactly ``scores.argmax(1)``."""
    scores = scores.float()
    labels = scores.argmax(1, keepdim=True)
    top = scores.gather(1, labels)
    probability = torch.exp(top - torch.logsumexp(scores, 1, keepdim=True))  # softmax of the winner
    return labels[:, 0].to(torch.uint8), confidence_bytes(probability[:, 0])


def probability_confidence(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """N x H x W uint8 round(255 x p) of N x C x H x W probabilities at the chosen ``labels``."""
    chosen = probabilities.gather(1, labels.long().unsqueeze(1))[:, 0]
    return confidence_bytes(chosen)


def compiled_head() -> Postprocess:
    """``resize_argmax`` compiled into one kernel (torch.compile), fed plane-contiguous (NCHW) scores:
    per class, the loads of neighbouring pixels are then coalesced (measured: bench/results/gpu_notes.md)."""
    compiled = torch.compile(resize_argmax, dynamic=False)

    def head(logits: torch.Tensor, size: Tuple[int, int], mode: str) -> torch.Tensor:
        return compiled(logits.contiguous(), size, mode)

    return head


def linear_source(in_size: int, out_size: int, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor,
                                                                               torch.Tensor]:
    """(i0, i1, lambda1) per output index, as PyTorch's bilinear resize with align_corners=False."""
    scale = torch.tensor(float(in_size), dtype=torch.float32) / float(out_size)
    src = (torch.arange(out_size, dtype=torch.float32) + 0.5) * scale - 0.5
    src = src.clamp(min=0.0)
    i0 = src.to(torch.int64).clamp(max=in_size - 1)
    i1 = (i0 + 1).clamp(max=in_size - 1)
    lam1 = src - i0.to(torch.float32)
    return i0.to(device), i1.to(device), lam1.to(device)


def nearest_source(in_size: int, out_size: int, device: torch.device) -> torch.Tensor:
    """Source index per output index, as PyTorch's "nearest" resize: floor(i * in / out)."""
    scale = torch.tensor(float(in_size), dtype=torch.float32) / float(out_size)
    index = (torch.arange(out_size, dtype=torch.float32) * scale).to(torch.int64)
    return index.clamp(max=in_size - 1).to(device)


def nearest_argmax(logits: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """argmax of a nearest resize = nearest resize of the argmax (exact): N x H x W int64."""
    labels = logits.argmax(1)
    rows = nearest_source(logits.shape[-2], size[0], logits.device)
    cols = nearest_source(logits.shape[-1], size[1], logits.device)
    return labels.index_select(1, rows).index_select(2, cols)


def bilinear_argmax(logits: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """argmax over classes of the bilinear resize of N x C x h x w logits to size: N x H x W int64."""
    n, _, h, w = logits.shape
    y0, y1, ly = linear_source(h, int(size[0]), logits.device)
    x0, x1, lx = linear_source(w, int(size[1]), logits.device)
    scores = logits.permute(0, 2, 3, 1).float().contiguous()  # N x h x w x C: C scores per pixel
    low = scores.argmax(3)
    below = (torch.arange(h, device=logits.device) + 1).clamp(max=h - 1)
    right = (torch.arange(w, device=logits.device) + 1).clamp(max=w - 1)
    low_below = low.index_select(1, below)
    agree = (low == low_below) & (low == low.index_select(2, right))
    agree &= low == low_below.index_select(2, right)
    labels = low.index_select(1, y0).index_select(2, x0)
    mixed = ~agree.index_select(1, y0).index_select(2, x0)
    # no data-dependent branch: a traced (jit) version must also handle images with boundaries
    b, i, j = mixed.nonzero(as_tuple=True)
    r0, r1, c0, c1 = y0[i], y1[i], x0[j], x1[j]
    wy, wx = ly[i].unsqueeze(1), lx[j].unsqueeze(1)
    top = torch.lerp(scores[b, r0, c0], scores[b, r0, c1], wx)
    bottom = torch.lerp(scores[b, r1, c0], scores[b, r1, c1], wx)
    labels[b, i, j] = torch.lerp(top, bottom, wy).argmax(1)
    return labels


def sparse_argmax(logits: torch.Tensor, size: Tuple[int, int], mode: str) -> torch.Tensor:
    """uint8 labels (N x H x W) of the stride-4 logits resized to size=(H, W) in the model's ``mode``,
    without resizing every class map: ``nearest_argmax`` or ``bilinear_argmax``."""
    labels = nearest_argmax(logits, size) if mode == "nearest" else bilinear_argmax(logits, size)
    return labels.to(torch.uint8)
