"""Size of segmentation/labels/compressed (lossless mono8 PNG, the node's encoder) against raw mono8 labels.

Synthetic road scenes (seeded, exact labels, as a well-trained model's output would look) at the
camera sizes the node sees, and the bundled demo checkpoint's own predictions (noisier edges) at a
size a CPU segments in a moment. Writes bench/results/label_compression.json: per case the raw bytes
(H x W), the PNG bytes (mean, min, max), the ratio raw / PNG and the encode time per frame.

    python bench/label_compression.py [--scenes 20]
"""

import argparse
import json
import os
import platform
import time
from typing import Any, Dict, List

import numpy as np

from swiftnet_ros.data.synthetic import make_scene
from swiftnet_ros.ros.frame_pipeline import LABELS_PNG_FORMAT, LABELS_PNG_LEVEL, encode_labels_png
from swiftnet_ros.ros.params import resolve_weights

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
SIZES = ((1024, 2048), (512, 1024))  # (H, W): Cityscapes' camera and the half size
MODEL_SIZE = (256, 512)


def measure(label_maps: List[np.ndarray]) -> Dict[str, Any]:
    """Raw and PNG sizes and encode times of a list of (H, W) uint8 label maps (decoded back: lossless)."""
    import cv2

    sizes, times = [], []
    for labels in label_maps:
        start = time.perf_counter()
        png = encode_labels_png(labels)
        times.append((time.perf_counter() - start) * 1e3)
        decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(decoded, labels), "PNG labels must decode to exactly the labels"
        sizes.append(len(png))
    raw = int(label_maps[0].size)
    return {"height": int(label_maps[0].shape[0]), "width": int(label_maps[0].shape[1]), "frames": len(sizes),
            "raw_bytes": raw, "png_bytes_mean": float(np.mean(sizes)), "png_bytes_min": int(min(sizes)),
            "png_bytes_max": int(max(sizes)), "ratio_raw_to_png": float(raw / np.mean(sizes)),
            "encode_ms_mean": float(np.mean(times))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--out", default=os.path.join(RESULTS, "label_compression.json"))
    args = parser.parse_args()
    seeds = range(1000, 1000 + args.scenes)
    cases = {}
    for height, width in SIZES:
        cases["scene_labels_{}x{}".format(width, height)] = measure(
            [make_scene(seed, (height, width))[1] for seed in seeds])
    from swiftnet_ros.infer import Segmenter

    segmenter = Segmenter(resolve_weights("demo"), backend="torch", device="cpu", warmup=0)
    predictions = [segmenter.segment(make_scene(seed, MODEL_SIZE)[0]).labels for seed in seeds]
    cases["demo_model_labels_{}x{}".format(MODEL_SIZE[1], MODEL_SIZE[0])] = measure(predictions)
    scenes = [make_scene(seed, MODEL_SIZE)[1] for seed in seeds]
    cases["scene_labels_{}x{}".format(MODEL_SIZE[1], MODEL_SIZE[0])] = measure(scenes)
    report = {"format": LABELS_PNG_FORMAT, "png_level": LABELS_PNG_LEVEL,
              "scene_seeds": [seeds[0], seeds[-1]], "machine": platform.processor() or platform.machine(),
              "cases": cases}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    for name, case in cases.items():
        print("{:28s} raw {:>8d} B  png {:>8.0f} B  ratio {:5.1f}x  encode {:5.2f} ms".format(
            name, case["raw_bytes"], case["png_bytes_mean"], case["ratio_raw_to_png"],
            case["encode_ms_mean"]))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
