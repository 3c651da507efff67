"""int8 accuracy on this CPU: label agreement with fp32 and mIoU on unseen synthetic scenes.

The model is exported to fp32 ONNX and quantized (``swiftnet_ros.infer.quantize``) once per choice
of fp32 layers, calibrated on synthetic scenes from CALIBRATION_SEED; fp32 (onnxruntime) and each
int8 model then segment the scenes 424242.. (never used for training or calibration). Writes
bench/results/cpu_int8_<name>.json. Speed is `swiftnet-ros bench --precision fp32,int8`'s job.

    python bench/cpu_int8.py --model runs/cpu_rn18_1024/best.pt --name rn18 --keep-fp32 logits ""
"""

import argparse
import os
import sys
import time

import numpy as np

from swiftnet_ros.data.synthetic import make_scene
from swiftnet_ros.files import write_json_atomic
from swiftnet_ros.infer.cpu import cpu_model
from swiftnet_ros.infer.export import export_onnx
from swiftnet_ros.infer.quantize import CALIBRATION_SEED, quantize_onnx
from swiftnet_ros.infer.segmenter import Segmenter
from swiftnet_ros.infer.weights import load_torch_weights
from swiftnet_ros.sizes import parse_size
from swiftnet_ros.train.metrics import ConfusionMatrix

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
EVAL_SEED = 424242


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint or preset")
    parser.add_argument("--name", required=True, help="names the JSON: cpu_int8_<name>.json")
    parser.add_argument("--size", default="1024x512", help="WIDTHxHEIGHT (default 1024x512)")
    parser.add_argument("--num", type=int, default=50, help="evaluation scenes from 424242 (default 50)")
    parser.add_argument("--calibration-num", type=int, default=16, help="calibration scenes (default 16)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep-fp32", nargs="+", default=["logits"],
                        help="one int8 model per entry: comma-separated fp32 layer groups ('' = none)")
    args = parser.parse_args()
    size = parse_size(args.size)
    import torch

    torch.set_num_threads(args.threads)
    model, meta = load_torch_weights(args.model)
    folder = os.path.join(RESULTS, ".cpu_int8_tmp")
    os.makedirs(folder, exist_ok=True)
    fp32_path = os.path.join(folder, "fp32.onnx")
    export_onnx(model, size, meta["class_names"], meta["palette"], path=fp32_path,
                model_name=meta["model_name"])
    options = {"threads": args.threads}
    segmenters = {"fp32": Segmenter(fp32_path, device="cpu", warmup=0, backend_options=options)}
    last = CALIBRATION_SEED + args.calibration_num - 1
    calibration = "synthetic scenes {}..{}".format(CALIBRATION_SEED, last)
    quantize_seconds = {}
    for keep in args.keep_fp32:
        groups = tuple(k for k in keep.split(",") if k)
        label = "int8 (fp32: {})".format(", ".join(groups) or "none")
        path = os.path.join(folder, "int8_{}.onnx".format("_".join(groups) or "none"))
        start = time.time()
        images = (make_scene(CALIBRATION_SEED + i, size)[0] for i in range(args.calibration_num))
        quantize_onnx(fp32_path, images, keep_fp32=groups, path=path, calibration=calibration)
        quantize_seconds[label] = round(time.time() - start, 1)
        segmenters[label] = Segmenter(path, device="cpu", warmup=0, backend_options=options)
    names = list(meta["class_names"])
    confusion = {k: ConfusionMatrix(len(names)) for k in segmenters}
    agreement = {k: [] for k in segmenters}
    for i in range(args.num):
        image, truth = make_scene(EVAL_SEED + i, size)
        labels = {k: s.segment(image).labels for k, s in segmenters.items()}
        for k in segmenters:
            confusion[k].update(labels[k].astype(np.int64), truth.astype(np.int64))
            agreement[k].append(float((labels[k] == labels["fp32"]).mean()))
        print("scene {}/{}".format(i + 1, args.num), file=sys.stderr, end="\r")
    fp32_miou = confusion["fp32"].to_dict(names)["miou"]
    rows = []
    for k in segmenters:
        scores = confusion[k].to_dict(names)
        rows.append({"model": k, "miou": round(scores["miou"], 5),
                     "pixel_accuracy": round(scores["pixel_accuracy"], 5),
                     "miou_points_vs_fp32": round(100 * (scores["miou"] - fp32_miou), 3),
                     "label_agreement_mean": round(float(np.mean(agreement[k])), 6),
                     "label_agreement_min": round(float(np.min(agreement[k])), 6),
                     "quantize_seconds": quantize_seconds.get(k)})
        print("{:28s} mIoU {:.4f} ({:+.2f} points)  agreement mean {:.4%} min {:.4%}".format(
            k, scores["miou"], rows[-1]["miou_points_vs_fp32"], rows[-1]["label_agreement_mean"],
            rows[-1]["label_agreement_min"]))
    report = {"command": " ".join(["python"] + sys.argv), "model": meta["model_name"], "weights": args.model,
              "size": "{}x{}".format(size[1], size[0]), "cpu": cpu_model(), "threads": args.threads,
              "evaluation": "synthetic scenes {}..{}".format(EVAL_SEED, EVAL_SEED + args.num - 1),
              "calibration": calibration, "results": rows}
    out = os.path.join(RESULTS, "cpu_int8_{}.json".format(args.name))
    write_json_atomic(out, report)
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    os.rmdir(folder)
    print("wrote {}".format(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
