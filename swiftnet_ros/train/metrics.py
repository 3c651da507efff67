"""Semantic segmentation metrics from a confusion matrix: mIoU, per-class IoU, pixel accuracy.

The matrix is accumulated with one ``bincount`` per batch (numpy, or torch on the tensors' own
device), so no compiled extension is needed. Rows are ground truth, columns predictions; pixels
whose target is ``ignore_index`` are skipped. A class absent from both ground truth and
predictions has an undefined IoU (NaN) and is left out of the mean.
"""

import math
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]


class ConfusionMatrix:
    """Accumulates a C x C confusion matrix over batches of predicted and target label maps."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if int(num_classes) < 1:
            raise ValueError("num_classes must be >= 1, got {}".format(num_classes))
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.matrix = np.zeros((self.num_classes, self.num_classes), np.int64)

    def reset(self) -> None:
        self.matrix[:] = 0

    def update(self, pred: ArrayLike, target: ArrayLike) -> None:
        """Add label maps of equal shape (any batch layout); pred holds class ids, not logits."""
        if tuple(pred.shape) != tuple(target.shape):
            raise ValueError("pred shape {} differs from target shape {}; pass class ids (argmax), not logits"
                             .format(tuple(pred.shape), tuple(target.shape)))
        c = self.num_classes
        if isinstance(pred, torch.Tensor) or isinstance(target, torch.Tensor):
            p = torch.as_tensor(pred).reshape(-1).long()
            t = torch.as_tensor(target, device=p.device).reshape(-1).long()
            valid = t != self.ignore_index
            p, t = p[valid], t[valid]
            self._check(int(t.min()) if t.numel() else 0, int(t.max()) if t.numel() else 0,
                        int(p.min()) if p.numel() else 0, int(p.max()) if p.numel() else 0)
            counts = torch.bincount(t * c + p, minlength=c * c).cpu().numpy()
        else:
            p = np.asarray(pred).reshape(-1).astype(np.int64)
            t = np.asarray(target).reshape(-1).astype(np.int64)
            valid = t != self.ignore_index
            p, t = p[valid], t[valid]
            if t.size:
                self._check(int(t.min()), int(t.max()), int(p.min()), int(p.max()))
            counts = np.bincount(t * c + p, minlength=c * c)
        self.matrix += counts.reshape(c, c)

    def _check(self, t_min: int, t_max: int, p_min: int, p_max: int) -> None:
        c = self.num_classes
        if t_min < 0 or t_max >= c:
            bad = t_min if t_min < 0 else t_max
            raise ValueError("target contains class id {}; expected 0..{} or ignore_index {}".format(
                bad, c - 1, self.ignore_index))
        if p_min < 0 or p_max >= c:
            bad = p_min if p_min < 0 else p_max
            raise ValueError("prediction contains class id {} at a labelled pixel; expected 0..{}"
                             .format(bad, c - 1))

    def add(self, other: "ConfusionMatrix") -> None:
        """Merge another matrix (e.g. from another process) into this one."""
        if other.matrix.shape != self.matrix.shape:
            raise ValueError("cannot add a {0}x{0} confusion matrix to a {1}x{1} one".format(
                other.num_classes, self.num_classes))
        self.matrix += other.matrix

    def per_class_iou(self) -> np.ndarray:
        """IoU = TP / (TP + FP + FN) per class; NaN for classes absent from both truth and prediction."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(0) + self.matrix.sum(1) - tp
        iou = np.full(self.num_classes, np.nan)
        present = union > 0
        iou[present] = tp[present] / union[present]
        return iou

    def miou(self) -> float:
        """Mean IoU over the classes with a defined IoU (NaN when there are none)."""
        iou = self.per_class_iou()
        return float(np.mean(iou[~np.isnan(iou)])) if (~np.isnan(iou)).any() else math.nan

    def pixel_accuracy(self) -> float:
        """Correct pixels / labelled pixels (NaN before any labelled pixel)."""
        total = self.matrix.sum()
        return float(np.trace(self.matrix) / total) if total else math.nan

    def to_dict(self, class_names: Optional[Sequence[str]] = None) -> Dict[str, object]:
        """JSON-ready summary; undefined values are None (JSON has no NaN)."""
        names = list(class_names) if class_names is not None else [str(i) for i in range(self.num_classes)]
        if len(names) != self.num_classes:
            raise ValueError("{} class names for a {}-class confusion matrix"
                             .format(len(names), self.num_classes))

        def clean(x: float) -> Optional[float]:
            return None if math.isnan(x) else float(x)

        return {"miou": clean(self.miou()), "pixel_accuracy": clean(self.pixel_accuracy()),
                "per_class_iou": {n: clean(v) for n, v in zip(names, self.per_class_iou().tolist())},
                "num_pixels": int(self.matrix.sum())}
