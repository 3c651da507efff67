"""Evaluation of a model on a labelled dataset: mIoU, per-class IoU and pixel accuracy, plus a bar chart.

The confusion matrix comes from swiftnet_ros.train.metrics (vectorised, bincount); multi-scale and flip
inference (swiftnet_ros.infer.multiscale) average the class probabilities over scales (0.5, 0.75, 1,
1.25, 1.5 in the paper).
"""

import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from swiftnet_ros.infer.multiscale import PAPER_SCALES, multiscale_probabilities
from swiftnet_ros.train.metrics import ConfusionMatrix

__all__ = ["PAPER_SCALES", "evaluate", "plot_per_class_iou", "predict"]


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, scales: Sequence[float] = (1.0,),
            flip: bool = False) -> torch.Tensor:
    """Class ids (N, H, W) for a batch of RGB 0-255 images; several scales/flip average probabilities."""
    if tuple(scales) == (1.0,) and not flip:
        return model(images).argmax(1)
    return multiscale_probabilities([model], images, scales=scales, flip=flip).argmax(1)


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, class_names: List[str], device: Any = "cpu",
             batch_size: int = 1, workers: int = 0, scales: Sequence[float] = (1.0,), flip: bool = False,
             progress: bool = True) -> Dict[str, Any]:
    """Evaluate on every sample of dataset ((image, label) pairs); returns a JSON-ready dict.

    per_class_iou maps class name -> IoU, or None for a class that appears neither in the labels nor
    in the predictions (such classes do not count towards miou).
    """
    if len(dataset) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    device = torch.device(device)
    was_training = model.training
    model.eval()
    confusion = ConfusionMatrix(len(class_names))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    bar = tqdm(loader, desc="evaluate", disable=not progress, leave=False, dynamic_ncols=True)
    for images, labels in bar:
        images = images.to(device)
        labels = labels.to(device)
        confusion.update(predict(model, images, scales, flip), labels)
    model.train(was_training)
    result = confusion.to_dict(class_names)
    if result["miou"] is None:
        raise ValueError("no labelled pixel in {} images: nothing to evaluate".format(len(dataset)))
    result.update(num_images=len(dataset), scales=[float(s) for s in scales], flip=bool(flip))
    return result


def plot_per_class_iou(per_class_iou: Dict[str, Optional[float]], palette: Any, path: str,
                       title: str = "") -> None:
    """Horizontal bars in each class's palette colour; classes absent from the data are marked n/a."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(per_class_iou)
    values = [per_class_iou[n] for n in names]
    colors = np.asarray(palette, dtype=np.float64).reshape(-1, 3)[:len(names)] / 255.0
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(names) + 1.2))
    y = np.arange(len(names))
    ax.barh(y, [0.0 if v is None else v for v in values], color=colors, edgecolor="black", linewidth=0.5)
    for i, v in enumerate(values):
        ax.text(min(v if v is not None else 0.0, 1.0) + 0.01, i, "n/a" if v is None else "{:.1%}".format(v),
                va="center", fontsize=8)
    defined = [v for v in values if v is not None]
    if defined:
        ax.axvline(float(np.mean(defined)), color="red", linestyle="--", linewidth=1, label="mIoU")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("IoU")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
