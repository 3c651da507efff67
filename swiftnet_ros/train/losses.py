"""Training losses: cross-entropy with void ignored, and the boundary-aware focal loss.

The boundary-aware loss follows the reference pyramid config: each pixel is weighted by how far it
lies from the edge of its class region (distance bins 16/64/128 px -> weights 8/4/2/1, void 0), and
the focal term is exp(gamma * (1 - p_t)) with gamma = 0.5, as the reference code computes it.
"""

from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from swiftnet_ros.data.labels import VOID


def boundary_weights(labels: np.ndarray, num_classes: int, bins: Sequence[float] = (16, 64, 128),
                     weights: Sequence[float] = (8, 4, 2, 1), ignore_index: int = VOID) -> np.ndarray:
    """Per-pixel weights (H, W) float32 from the distance of each pixel to the border of its class region.

    Distances are Euclidean (OpenCV, 5x5 mask) inside each class's mask; pixels of classes outside
    0..num_classes-1 (void) get weight 0.
    """
    if labels.ndim != 2:
        raise ValueError("labels must be a 2-D (H, W) array, got shape {}".format(labels.shape))
    if len(weights) != len(bins) + 1:
        raise ValueError("weights needs one more entry than bins, got {} and {}".format(
            list(weights), list(bins)))
    labels = np.asarray(labels)
    distance = np.zeros(labels.shape, np.float32)
    for c in np.unique(labels):
        if c == ignore_index or not 0 <= c < num_classes:
            continue
        mask = labels == c
        distance[mask] = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)[mask]
    out = np.asarray(weights, np.float32)[np.digitize(distance, np.asarray(bins, np.float32))]
    out[(labels == ignore_index) | (labels >= num_classes)] = 0.0
    return out


class CrossEntropy(nn.Module):
    """Mean cross-entropy over non-void pixels; logits are upsampled to the label size if needed."""

    def __init__(self, ignore_index: int = VOID) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = _match_size(logits, labels)
        if not bool((labels != self.ignore_index).any()):
            return logits.sum() * 0.0  # an all-void batch: no signal, but keep the graph
        return F.cross_entropy(logits.float(), labels, ignore_index=self.ignore_index)


class BoundaryAwareFocalLoss(nn.Module):
    """Focal loss weighted by distance to class boundaries (Orsic et al.'s pyramid training recipe)."""

    def __init__(self, num_classes: int, gamma: float = 0.5, bins: Sequence[float] = (16, 64, 128),
                 weights: Sequence[float] = (8, 4, 2, 1), ignore_index: int = VOID) -> None:
        super().__init__()
        if len(weights) != len(bins) + 1:
            raise ValueError("weights needs one more entry than bins, got {} and {}".format(
                list(weights), list(bins)))
        self.num_classes = num_classes
        self.gamma = float(gamma)
        self.bins = tuple(float(b) for b in bins)
        self.weights = tuple(float(w) for w in weights)
        self.ignore_index = ignore_index

    def pixel_weights(self, labels: torch.Tensor) -> torch.Tensor:
        arrays = labels.detach().cpu().numpy().astype(np.int64)
        alphas = np.stack([boundary_weights(a, self.num_classes, self.bins, self.weights, self.ignore_index)
                           for a in arrays])
        return torch.from_numpy(alphas).to(labels.device)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = _match_size(logits, labels).float()
        alphas = self.pixel_weights(labels)
        count = (alphas > 0).sum()
        if int(count) == 0:
            return logits.sum() * 0.0
        target = labels.clone()
        target[alphas == 0] = 0  # any valid index: these pixels have weight 0
        logpt = F.log_softmax(logits, dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
        pt = logpt.detach().exp()
        loss = -alphas * torch.exp(self.gamma * (1.0 - pt)) * logpt
        return loss.sum() / count


def _match_size(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if logits.shape[-2:] != labels.shape[-2:]:
        logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    return logits


def build_loss(name: str, num_classes: int, gamma: float = 0.5, bins: Sequence[float] = (16, 64, 128),
               weights: Sequence[float] = (8, 4, 2, 1)) -> nn.Module:
    """"ce" -> CrossEntropy, "boundary" -> BoundaryAwareFocalLoss."""
    if name == "ce":
        return CrossEntropy()
    if name == "boundary":
        return BoundaryAwareFocalLoss(num_classes, gamma=gamma, bins=bins, weights=weights)
    raise ValueError("loss must be 'ce' or 'boundary', got {!r}".format(name))
