"""int8 on this CPU: label agreement with fp32, mIoU on unseen synthetic scenes, and speed.

The model is exported to fp32 ONNX (by default ending at the stride-4 logits, as `swiftnet-ros
quantize` does) and quantized (``swiftnet_ros.infer.quantize``) once per variant, calibrated on
synthetic scenes from CALIBRATION_SEED (with ``auto``, every 4th of them held out to choose the fp32
layers); fp32 (onnxruntime) and each int8 model then segment the scenes 424242.. (never used for
training or calibration). Then, interleaved round-robin on scene 0: the eager fp32 baseline
(``model(x).argmax(1)``, as ``swiftnet-ros bench``), onnxruntime fp32 and each int8 model. Writes
bench/results/cpu_int8_<name>.json.

A variant is KEEP[@METHOD]: KEEP is ``auto``, ``none`` or comma-separated fp32 groups (``logits``,
``resize``, ``encoder:N``); METHOD is a calibration method (default: quantize's).

    python bench/cpu_int8.py --model runs/cpu_rn18_1024/best.pt --name rn18_trained \\
        --variants auto logits logits@minmax none
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

from swiftnet_ros.data.synthetic import make_scene
from swiftnet_ros.files import write_json_atomic
from swiftnet_ros.infer.export import export_onnx
from swiftnet_ros.infer.options import ARGMAX_MODES
from swiftnet_ros.infer.quantize import (
    AUTO,
    CALIBRATION_METHODS,
    CALIBRATION_SEED,
    EXPORT_ARGMAX,
    quantization_info,
    quantize_onnx,
)
from swiftnet_ros.infer.segmenter import Segmenter, image_to_batch
from swiftnet_ros.infer.weights import load_torch_weights
from swiftnet_ros.sizes import parse_size
from swiftnet_ros.tools.benchmark import cpu_model
from swiftnet_ros.train.metrics import ConfusionMatrix

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
EVAL_SEED = 424242


def parse_variant(text: str) -> tuple:
    """(keep_fp32 for quantize_onnx, method) of a KEEP[@METHOD] variant."""
    keep, _, method = text.partition("@")
    method = method or CALIBRATION_METHODS[0]
    if method not in CALIBRATION_METHODS:
        raise SystemExit("variant {!r}: method {!r} is not one of {}".format(
            text, method, ", ".join(CALIBRATION_METHODS)))
    if keep == AUTO:
        return AUTO, method
    return tuple(k for k in keep.split(",") if k and k != "none"), method


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint or preset")
    parser.add_argument("--name", required=True, help="names the JSON: cpu_int8_<name>.json")
    parser.add_argument("--size", default="1024x512", help="WIDTHxHEIGHT (default 1024x512)")
    parser.add_argument("--argmax", default=EXPORT_ARGMAX, choices=ARGMAX_MODES,
                        help="where the exported graph ends (default %(default)s, as quantize)")
    parser.add_argument("--num", type=int, default=50, help="evaluation scenes from 424242 (default 50)")
    parser.add_argument("--calibration-num", type=int, default=32,
                        help="calibration scenes (default 32, as quantize)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each model (default 10)")
    parser.add_argument("--variants", nargs="+", default=[AUTO, "logits", "logits@minmax"],
                        help="one int8 model per entry, KEEP[@METHOD] (default: auto logits logits@minmax)")
    args = parser.parse_args()
    size = parse_size(args.size)
    variants = [(text, parse_variant(text)) for text in args.variants]
    import torch

    torch.set_num_threads(args.threads)
    model, meta = load_torch_weights(args.model)
    model.eval()
    folder = os.path.join(RESULTS, ".cpu_int8_tmp")
    os.makedirs(folder, exist_ok=True)
    fp32_path = os.path.join(folder, "fp32.onnx")
    export_onnx(model, size, meta["class_names"], meta["palette"], path=fp32_path, argmax=args.argmax,
                model_name=meta["model_name"])
    options = {"threads": args.threads}
    segmenters = {"fp32": Segmenter(fp32_path, device="cpu", warmup=0, backend_options=options)}
    last = CALIBRATION_SEED + args.calibration_num - 1
    calibration = "synthetic scenes {}..{}".format(CALIBRATION_SEED, last)
    made = {}
    for text, (keep, method) in variants:
        label = "int8 {}".format(text)
        path = os.path.join(folder, "int8_{}.onnx".format(len(made)))
        start = time.time()
        images = (make_scene(CALIBRATION_SEED + i, size)[0] for i in range(args.calibration_num))
        data = quantize_onnx(fp32_path, images, keep_fp32=keep, method=method, path=path,
                             calibration=calibration, report=lambda line: print(line, file=sys.stderr))
        made[label] = {"variant": text, "quantize_seconds": round(time.time() - start, 1),
                       "quantization": quantization_info(data)}
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

    # speed: round-robin on scene 0, as swiftnet-ros bench (forward + argmax of a 1x3xHxW batch)
    x = image_to_batch(make_scene(0, size)[0], True, torch.device("cpu"))
    runners = {"baseline": lambda batch: model(batch).argmax(1)}
    runners.update({k: s.backend.labels for k, s in segmenters.items()})
    load_start = list(os.getloadavg())
    times = {k: [] for k in runners}
    cpu_times = {k: [] for k in runners}
    with torch.no_grad():
        for run in runners.values():  # warm-up
            run(x)
        for _ in range(args.runs):
            for k, run in runners.items():
                start, cpu_start = time.perf_counter(), time.process_time()
                run(x)
                times[k].append(1e3 * (time.perf_counter() - start))
                cpu_times[k].append(1e3 * (time.process_time() - cpu_start))
    load_end = list(os.getloadavg())
    median = {k: statistics.median(v) for k, v in times.items()}

    fp32_miou = confusion["fp32"].to_dict(names)["miou"]
    rows = []
    for k in ["baseline"] + list(segmenters):
        row = {"model": "eager fp32 baseline" if k == "baseline" else k}
        if k != "baseline":
            scores = confusion[k].to_dict(names)
            a = np.array(agreement[k])
            row.update({"miou": round(scores["miou"], 5),
                        "pixel_accuracy": round(scores["pixel_accuracy"], 5),
                        "miou_points_vs_fp32": round(100 * (scores["miou"] - fp32_miou), 3),
                        "label_agreement_mean": round(float(a.mean()), 6),
                        "label_agreement_min": round(float(a.min()), 6),
                        "scenes_below_99": int((a < 0.99).sum())})
            row.update(made.get(k, {}))
        row.update({"median_ms": round(median[k], 1), "min_ms": round(min(times[k]), 1),
                    "cpu_ms": round(statistics.median(cpu_times[k]), 1),
                    "speedup_vs_baseline": round(median["baseline"] / median[k], 3),
                    "speedup_vs_onnxruntime_fp32": round(median["fp32"] / median[k], 3)})
        rows.append(row)
        if k != "baseline":
            print("{:34s} mIoU {:.4f} ({:+.2f} points)  agreement mean {:.4%} min {:.4%}  {:.1f} ms, {:.2f}x "
                  "baseline, {:.2f}x onnxruntime fp32".format(
                      k, row["miou"], row["miou_points_vs_fp32"], row["label_agreement_mean"],
                      row["label_agreement_min"], row["median_ms"], row["speedup_vs_baseline"],
                      row["speedup_vs_onnxruntime_fp32"]))
    report = {"command": " ".join(["python"] + sys.argv), "model": meta["model_name"], "weights": args.model,
              "size": "{}x{}".format(size[1], size[0]), "argmax": args.argmax, "cpu": cpu_model(),
              "threads": args.threads,
              "evaluation": "synthetic scenes {}..{}".format(EVAL_SEED, EVAL_SEED + args.num - 1),
              "calibration": calibration,
              "timing": {"runs": args.runs, "input": "make_scene(0)", "load_average_start": load_start,
                         "load_average_end": load_end, "baseline_median_ms": round(median["baseline"], 1),
                         "onnxruntime_fp32_median_ms": round(median["fp32"], 1)},
              "results": rows}
    out = os.path.join(RESULTS, "cpu_int8_{}.json".format(args.name))
    write_json_atomic(out, report)
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    os.rmdir(folder)
    print("wrote {}".format(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
