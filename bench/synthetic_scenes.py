"""Synthetic road scenes: a contact sheet to look at, generation speed, and how far colour alone gets.

Writes bench/results/synthetic_examples.png and bench/results/synthetic_colour_baseline.json:
two per-pixel colour classifiers trained on the scenes of the training seeds and scored on the
demo's evaluation seeds (424242...). The CNN (the demo checkpoint) must reach mIoU >= 0.85 there.

    .venv/bin/python bench/synthetic_scenes.py
"""

import argparse
import json
import os
import platform
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from swiftnet_ros.data.labels import VOID, get_label_set  # noqa: E402
from swiftnet_ros.data.synthetic import SCENE_CLASSES, make_scene, per_pixel_colour_baseline  # noqa: E402
from swiftnet_ros.train.metrics import ConfusionMatrix  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def contact_sheet(path: str, seeds: list, size: tuple) -> None:
    labels = get_label_set("cityscapes")
    fig, axes = plt.subplots(len(seeds), 2, figsize=(10, 2.6 * len(seeds)))
    for row, seed in zip(axes, seeds):
        image, label = make_scene(seed, size)
        color = np.zeros_like(image)
        valid = label != VOID
        color[valid] = labels.palette[label[valid]]
        row[0].imshow(image)
        row[0].set_title("seed {}".format(seed), fontsize=9)
        row[1].imshow(color)
        row[1].set_title("label (Cityscapes trainIds)", fontsize=9)
        for ax in row:
            ax.axis("off")
    handles = [Patch(color=labels.palette[c] / 255.0, label=labels.class_names[c]) for c in SCENE_CLASSES]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def nearest_mean_baseline(train_seeds: range, test_seeds: range, size: tuple) -> ConfusionMatrix:
    """Each pixel gets the class whose mean training colour is nearest."""
    sums, counts = np.zeros((19, 3)), np.zeros(19)
    for seed in train_seeds:
        image, label = make_scene(seed, size)
        for c in SCENE_CLASSES:
            m = label == c
            sums[c] += image[m].sum(0)
            counts[c] += m.sum()
    present = counts > 0
    means = sums[present] / counts[present, None]
    ids = np.nonzero(present)[0]
    cm = ConfusionMatrix(19)
    for seed in test_seeds:
        image, label = make_scene(seed, size)
        d = ((image[..., None, :].astype(np.float32) - means.astype(np.float32)) ** 2).sum(-1)
        cm.update(ids[d.argmin(-1)], label)
    return cm


def stride4_oracle(test_seeds: range, size: tuple) -> ConfusionMatrix:
    """Upper bound for stride-4 logits: true one-hot labels average-pooled by 4, upsampled bilinearly."""
    import torch
    import torch.nn.functional as F

    cm = ConfusionMatrix(19)
    for seed in test_seeds:
        _, label = make_scene(seed, size)
        onehot = F.one_hot(torch.from_numpy(label).long(), 19).permute(2, 0, 1)[None].float()
        up = F.interpolate(F.avg_pool2d(onehot, 4), size=size, mode="bilinear", align_corners=False)
        cm.update(up.argmax(1)[0], torch.from_numpy(label))
    return cm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=200, help="training scenes (seeds 0..N-1)")
    parser.add_argument("--test-seed", type=int, default=424242, help="first test seed (as the demo)")
    parser.add_argument("--test", type=int, default=50, help="test scenes")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 512), metavar=("H", "W"))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    size = tuple(args.size)
    names = get_label_set("cityscapes").class_names

    contact_sheet(os.path.join(args.out, "synthetic_examples.png"), [0, 1, 2, 3, 424242], size)

    wall, cpu = [], []
    for seed in tqdm(range(20), desc="timing"):
        best_wall = best_cpu = float("inf")
        for _ in range(3):  # best of 3: the machine is shared
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            make_scene(seed, size)
            best_wall = min(best_wall, time.perf_counter() - start_wall)
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
        wall.append(best_wall * 1000)
        cpu.append(best_cpu * 1000)

    train, test = range(args.train), range(args.test_seed, args.test_seed + args.test)
    results = {}
    histogram = ConfusionMatrix(19)
    histogram.matrix += per_pixel_colour_baseline(tqdm(train, desc="colour histogram"), test, size)
    results["colour_histogram"] = histogram
    results["nearest_class_mean"] = nearest_mean_baseline(tqdm(train, desc="class means"), test, size)
    results["stride4_oracle"] = stride4_oracle(test, size)
    out = {
        "what": "per-pixel colour classifiers on synthetic scenes: trained on seeds 0..{}, tested on "
                "seeds {}..{}".format(args.train - 1, test.start, test.stop - 1),
        "size_hw": list(size),
        "scene_classes": [names[c] for c in SCENE_CLASSES],
        "classifiers": {
            "colour_histogram": "most frequent training class of each RGB colour (32 levels per channel): "
                                "the best any classifier can do from one pixel's colour",
            "nearest_class_mean": "class whose mean training colour is nearest",
            "stride4_oracle": "not a colour classifier: the true labels seen through SwiftNet's stride-4 "
                              "logits (one-hot, 4x4 average, bilinear upsampling): what the output "
                              "resolution allows",
        },
        "generation_ms_per_scene": {
            "cpu_mean": round(float(np.mean(cpu)), 1), "cpu_max": round(float(np.max(cpu)), 1),
            "wall_mean": round(float(np.mean(wall)), 1), "wall_max": round(float(np.max(wall)), 1),
            "load_average": round(os.getloadavg()[0], 2),
            "note": "best of 3 per seed, 20 seeds, one thread, {} with {} cores shared with others".format(
                platform.machine(), os.cpu_count())},
    }
    for key, cm in results.items():
        d = cm.to_dict(names)
        d["per_class_iou"] = {k: round(v, 4) for k, v in d["per_class_iou"].items() if v is not None}
        d["miou"], d["pixel_accuracy"] = round(d["miou"], 4), round(d["pixel_accuracy"], 4)
        out[key] = d
    path = os.path.join(args.out, "synthetic_colour_baseline.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
    print(json.dumps({k: out[k]["miou"] for k in results}), "->", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
