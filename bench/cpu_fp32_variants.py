"""fp32 CPU variants of RN-18 at 1024x512, interleaved round-robin in one process, against the eager
baseline: ONNX Runtime optimisation levels, thread-pool spinning, a graph that ends at the stride-4
logits with the exact sparse bilinear argmax on the host (``--argmax host_stride4``), the onnxruntime
backend as the CPU default runs it (that graph, spinning off), the torch backend, torch+jit (oneDNN),
and torch in bf16 (label agreement with fp32 < 100%: a precision choice, not an fp32 variant).
Writes bench/results/cpu_fp32_variants_<name>.json; the notes are bench/results/cpu_notes.md.

    python bench/cpu_fp32_variants.py --model runs/cpu_rn18_1024/best.pt --name xeon [--jit] [--bf16]
"""

import argparse
import os
import statistics
import sys
import time

import onnxruntime as ort
import torch

from swiftnet_ros.data.synthetic import make_scene
from swiftnet_ros.files import write_json_atomic
from swiftnet_ros.infer.cpu import cpu_model
from swiftnet_ros.infer.export import export_onnx
from swiftnet_ros.infer.options import HOST_STRIDE4
from swiftnet_ros.infer.postprocess import bilinear_argmax
from swiftnet_ros.infer.segmenter import Segmenter, image_to_batch
from swiftnet_ros.infer.weights import load_torch_weights

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
H, W = 512, 1024


def session(data: bytes, level: object, spin: bool, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = level
    options.log_severity_level = 3
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="rn18")
    parser.add_argument("--name", required=True, help="names the JSON: cpu_fp32_variants_<name>.json")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--jit", action="store_true", help="also torch+jit-winograd (oneDNN, frozen)")
    parser.add_argument("--bf16", action="store_true", help="also torch in bfloat16 (AMX / avx512_bf16)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, meta = load_torch_weights(args.model)
    image, _ = make_scene(0, (H, W))
    x = image_to_batch(image, True, torch.device("cpu"), (H, W))
    feed = {"image": x.numpy()}
    full = export_onnx(model, (H, W), meta["class_names"], meta["palette"])
    stride4 = export_onnx(model, (H, W), meta["class_names"], meta["palette"], argmax=HOST_STRIDE4)
    level = ort.GraphOptimizationLevel
    sessions = {
        "onnxruntime all": session(full, level.ORT_ENABLE_ALL, True, args.threads),
        "onnxruntime all, no spinning": session(full, level.ORT_ENABLE_ALL, False, args.threads),
        "onnxruntime extended": session(full, level.ORT_ENABLE_EXTENDED, True, args.threads),
        "onnxruntime stride-4 logits + sparse bilinear argmax": session(stride4, level.ORT_ENABLE_ALL, True,
                                                                        args.threads),
        "onnxruntime stride-4, no spinning": session(stride4, level.ORT_ENABLE_ALL, False, args.threads),
    }

    def eager() -> torch.Tensor:
        with torch.no_grad():
            return model(x).argmax(1)

    variants = {"eager (baseline)": eager}
    for label, s in sessions.items():
        if "stride-4" in label:
            variants[label] = (lambda s=s: bilinear_argmax(torch.from_numpy(s.run(None, feed)[0]), (H, W)))
        else:
            variants[label] = (lambda s=s: torch.from_numpy(s.run(None, feed)[0]).argmax(1))
    ort_backend = Segmenter(args.model, backend="onnxruntime", device="cpu", input_size=(H, W), warmup=0,
                            backend_options={"threads": args.threads})
    variants["onnxruntime backend (defaults: stride-4, no spinning)"] = lambda: ort_backend.backend.labels(x)
    torch_backend = Segmenter(args.model, backend="torch", device="cpu", input_size=(H, W), warmup=0)
    variants["torch backend (defaults)"] = lambda: torch_backend.backend.labels(x)
    if args.jit:
        jit = Segmenter(args.model, backend="torch", device="cpu", input_size=(H, W), warmup=0,
                        backend_options={"jit": True, "winograd": False})
        variants["torch+jit-winograd"] = lambda: jit.backend.labels(x)
    if args.bf16:  # AMX / avx512_bf16 CPUs: oneDNN's bf16 convolutions, channels-last
        autocast_model = load_torch_weights(args.model)[0].eval().to(memory_format=torch.channels_last)
        bf16_model = load_torch_weights(args.model)[0].eval().to(torch.bfloat16,
                                                                 memory_format=torch.channels_last)
        x_last = x.contiguous(memory_format=torch.channels_last)

        def autocast() -> torch.Tensor:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                return autocast_model(x_last).argmax(1)

        def bf16() -> torch.Tensor:
            with torch.no_grad():
                return bf16_model(x_last.to(torch.bfloat16)).float().argmax(1)

        variants["torch bf16 autocast, channels_last"] = autocast
        variants["torch bf16 weights, channels_last"] = bf16
    reference = eager()
    agreement = {}
    for label, run in variants.items():
        agreement[label] = float((run().to(reference.dtype) == reference).float().mean())
        run()
    load_start = list(os.getloadavg())
    times = {label: [] for label in variants}
    for _ in range(args.runs):
        for label, run in variants.items():
            start = time.perf_counter()
            run()
            times[label].append((time.perf_counter() - start) * 1e3)
    base = statistics.median(times["eager (baseline)"])
    rows = []
    for label in variants:
        median = statistics.median(times[label])
        rows.append({"variant": label, "median_ms": round(median, 1),
                     "speedup_vs_baseline": round(base / median, 3),
                     "label_agreement": round(agreement[label], 6)})
        print("{:55s} {:8.1f} ms {:5.2f}x  agreement {:.4%}".format(label, median, base / median,
                                                                   agreement[label]))
    report = {"command": " ".join(["python"] + sys.argv), "cpu": cpu_model(), "threads": args.threads,
              "model": meta["model_name"], "weights": args.model, "size": "{}x{}".format(W, H),
              "runs": args.runs, "load_average_start": load_start, "load_average_end": list(os.getloadavg()),
              "results": rows}
    out = os.path.join(RESULTS, "cpu_fp32_variants_{}.json".format(args.name))
    write_json_atomic(out, report)
    print("wrote {}".format(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
