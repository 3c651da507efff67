"""The backend benchmark of ``swiftnet-ros bench``: a report (dict, as written to JSON), its table and plot.

Measures, in one process and one run, the baseline - a plain eager fp32 NCHW ``model(x).argmax(1)``
as the reference code runs it - and each backend configuration on the same input (a synthetic road
scene). Latency is the forward pass + argmax on a device-resident batch (what the paper's Table 5
times); runs are interleaved round-robin across configurations so that load from other processes
on a shared machine hits all of them alike. Per configuration: median / p90 latency, FPS, peak
memory (process RSS on CPU, torch.cuda.max_memory_allocated on GPU), label agreement with the
baseline and the speed-up over it; also the median process CPU time per run (``cpu_ms``: all
threads, including time spent spinning in thread pools).

Backend tokens: ``torch``, ``onnxruntime``, ``tensorrt``, optionally with ``+option`` / ``-option``
switches for the torch backend (e.g. ``torch+jit``, ``torch-winograd``). A plain ``torch`` on CUDA
expands to: without CUDA graphs, with CUDA graphs, and with torch.compile where available.
"""

import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from swiftnet_ros.choices import INT8, PRECISIONS
from swiftnet_ros.infer.cpu import cpu_model, vector_flags
from swiftnet_ros.infer.registry import parse_backend_token, thread_options
from swiftnet_ros.stats import percentile


# ---------------------------------------------------------------------------- helpers
def expand_configs(backends: List[str], precisions: List[str], device_type: str,
                   compile_available: bool) -> List[Tuple[str, str, Dict[str, bool], str]]:
    """(label, backend, options, precision) for each precision x backend.

    A plain "torch" on CUDA becomes its variants: without and with CUDA graphs, and compiled.
    """
    configs = []
    for precision in precisions:
        for token in backends:
            name, options = parse_backend_token(token)
            variants = [options]
            if name == "torch" and not options and device_type == "cuda":
                variants = [{"cuda_graphs": False}, {"cuda_graphs": True}]
                if compile_available:
                    variants.append({"cuda_graphs": False, "compile": True})
            for opts in variants:
                label = name + "".join(("+" if v else "-") + k for k, v in sorted(opts.items()))
                configs.append((label, name, dict(opts), precision))
    return configs


def check_precisions(names: List[str], text: str) -> None:
    """A ValueError (a usage error) for none or an unknown one: a misspelt precision is not a benchmark
    to skip (fp16 on a CPU is: it is skipped with its reason)."""
    unknown = [name for name in names if name not in PRECISIONS]
    if unknown or not names:
        raise ValueError("precision {!r}: expected comma-separated precisions out of {}".format(
            text, ", ".join(PRECISIONS)))


def _rss_mb(field: str) -> Optional[float]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM (Linux >= 4.0)
        return True
    except OSError:
        return False


def machine_info(device: Any, threads: int) -> Dict[str, Any]:
    import torch

    info = {"cpu": cpu_model(), "cpu_vector_flags": list(vector_flags()), "cpu_count": os.cpu_count(),
            "threads": threads, "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "device": str(device), "gpu": None,
            "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    for module in ("onnxruntime", "onnx", "tensorrt", "cv2"):
        try:
            info[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - missing or broken optional module: just not reported
            info[module] = None
    return info


class _Config:
    def __init__(self, label: str, backend: str, precision: str, options: Dict[str, Any],
                 run: Any, describe: str) -> None:
        self.label, self.backend, self.precision, self.options = label, backend, precision, options
        self.run, self.describe = run, describe
        self.times: List[float] = []
        self.cpu_times: List[float] = []
        self.agreement: List[float] = []
        self.peak_mb: Optional[float] = None
        self.forward_mb: Optional[float] = None


def int8_model(model: Any, meta: Dict[str, Any], size: Tuple[int, int], num: int,
               folder: str) -> Tuple[str, str]:
    """(path, description) of ``model`` exported at ``size`` and quantized to int8 in ``folder``,
    calibrated on ``num`` synthetic scenes from CALIBRATION_SEED (never the benchmark's scene 0)."""
    from tqdm import tqdm

    from swiftnet_ros.data.synthetic import make_scene
    from swiftnet_ros.infer.export import export_onnx
    from swiftnet_ros.infer.quantize import CALIBRATION_SEED, EXPORT_ARGMAX, quantize_onnx

    description = "synthetic scenes {}..{}".format(CALIBRATION_SEED, CALIBRATION_SEED + num - 1)
    fp32 = export_onnx(model, size, meta["class_names"], meta["palette"], argmax=EXPORT_ARGMAX,
                       model_name=meta["model_name"])
    images = (make_scene(CALIBRATION_SEED + i, size)[0] for i in range(num))
    path = os.path.join(folder, "int8.onnx")
    quantize_onnx(fp32, tqdm(images, total=num, desc="int8 calibration", unit="image", leave=False),
                  path=path, calibration=description)
    return path, description


# ---------------------------------------------------------------------------- benchmark
def run_benchmark(weights: str = "rn18", backends: str = "torch,onnxruntime", precisions: str = "fp32",
                  size_text: str = "1024x512", runs: int = 20, warmup: int = 3, device_text: str = "auto",
                  threads: Optional[int] = None, engine_cache_dir: Optional[str] = None,
                  calibration_num: int = 16) -> Dict[str, Any]:
    """Time the baseline and every configuration; return the report (what ``--json`` writes).

    Precision int8 of a checkpoint or preset: it is exported and quantized first (``int8_model``),
    calibrated on ``calibration_num`` synthetic scenes that are not the benchmark's scene. A precision
    a backend or the device does not run (int8 on torch, bf16 on onnxruntime or on a CPU without
    AVX512-BF16 / AMX) is skipped, with its reason in ``skipped``.

    ``weights`` is a preset (random weights) or a checkpoint; ``backends`` (backend tokens) and
    ``precisions`` are comma-separated lists and ``size_text`` is WIDTHxHEIGHT, as on the command line. Raises
    ValueError, FileNotFoundError or RuntimeError for what cannot be benchmarked at all.
    """
    import torch
    from tqdm import tqdm

    from swiftnet_ros.data.synthetic import make_scene
    from swiftnet_ros.infer.backend import resolve_device
    from swiftnet_ros.infer.backend_torch import has_torch_compile
    from swiftnet_ros.infer.postprocess import label_agreement
    from swiftnet_ros.infer.segmenter import Segmenter, image_to_batch
    from swiftnet_ros.infer.weights import load_torch_weights
    from swiftnet_ros.sizes import parse_size

    if runs < 1 or warmup < 0:
        raise ValueError("--runs must be >= 1 and --warmup >= 0, got {} and {}"
                         .format(runs, warmup))
    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    size = parse_size(size_text)
    device = resolve_device(device_text)
    threads = threads or os.cpu_count() or 1
    if threads < 1:
        raise ValueError("--threads must be >= 1, got {}".format(threads))
    torch.set_num_threads(threads)
    precision_list = [p.strip() for p in precisions.split(",") if p.strip()]
    backend_list = [b.strip() for b in backends.split(",") if b.strip()]
    check_precisions(precision_list, precisions)
    if INT8 in precision_list:  # before the export, not after minutes of it
        from swiftnet_ros.infer.quantize import MIN_AUTO_IMAGES

        if calibration_num < MIN_AUTO_IMAGES:
            raise ValueError("--calibration-num must be >= {} for int8 (its fp32 layers are chosen by "
                             "agreement on held-out calibration scenes), got {}".format(
                                 MIN_AUTO_IMAGES, calibration_num))
    if not backend_list:
        raise ValueError("no backend in {!r}: expected comma-separated backend tokens, e.g. torch,onnxruntime"
                         .format(backends))
    configs = expand_configs(backend_list, precision_list, device.type, has_torch_compile())

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    image, _ = make_scene(0, size)
    x = image_to_batch(image, True, device, size)
    model, meta = load_torch_weights(weights)
    model = model.to(device).eval()

    def baseline(batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(batch).argmax(1).to(torch.uint8)

    reference = baseline(x).clone()
    sync()
    entries = [_Config("baseline (eager fp32 NCHW)", "eager", "fp32", {}, baseline, "model(x).argmax(1)")]
    skipped = []
    int8_folder = tempfile.TemporaryDirectory(prefix="swiftnet_bench_int8_")
    int8_path: Optional[str] = None
    calibration = None
    for label, backend, options, precision in configs:
        options = dict(options, **thread_options(backend, threads))  # the same CPU threads as torch
        try:
            source = weights
            if precision == INT8 and backend == "onnxruntime":  # quantized here, once
                if int8_path is None:
                    int8_path, calibration = int8_model(model, meta, size, calibration_num, int8_folder.name)
                source = int8_path
            segmenter = Segmenter(source, backend=backend, precision=precision, device=str(device),
                                  input_size=size, warmup=0, engine_cache_dir=engine_cache_dir,
                                  backend_options=options)
        except (ValueError, RuntimeError, ImportError) as error:
            skipped.append({"config": label, "precision": precision, "error": str(error)})
            print("skipping {} {}: {}".format(label, precision, error), file=sys.stderr)
            continue
        describe = segmenter.backend.describe()
        if backend == "auto":  # the row says what auto chose here, and why (timed at this size)
            label = "auto ({})".format(segmenter.backend_name)
            describe = "{}; {}".format(describe, segmenter.backend_reason)
        entries.append(_Config(label, segmenter.backend_name, precision, options, segmenter.backend.labels,
                               describe))

    # warm-up, then memory: one configuration at a time
    for entry in tqdm(entries, desc="warm-up", unit="config", leave=False):
        for _ in range(warmup):
            entry.run(x)
        sync()
        if device.type == "cuda":
            before = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            entry.run(x)
            sync()
            entry.peak_mb = torch.cuda.max_memory_allocated(device) / 2 ** 20
            entry.forward_mb = entry.peak_mb - before / 2 ** 20
        else:
            before = _rss_mb("VmRSS")
            if _reset_peak_rss():
                entry.run(x)
                entry.peak_mb = _rss_mb("VmHWM")
                entry.forward_mb = entry.peak_mb - before if entry.peak_mb and before else None
    # timed runs, round-robin
    with tqdm(total=runs * len(entries), desc="bench", unit="run") as bar:
        for _ in range(runs):
            for entry in entries:
                sync()
                start, cpu_start = time.perf_counter(), time.process_time()
                labels = entry.run(x)
                sync()
                entry.times.append((time.perf_counter() - start) * 1e3)
                entry.cpu_times.append((time.process_time() - cpu_start) * 1e3)
                entry.agreement.append(label_agreement(labels, reference))
                bar.update(1)
    base_median = statistics.median(entries[0].times)
    results = []
    for entry in entries:
        median = statistics.median(entry.times)
        results.append({
            "name": entry.label, "backend": entry.backend, "precision": entry.precision,
            "options": entry.options, "describe": entry.describe,
            "size": "{}x{}".format(size[1], size[0]), "runs": len(entry.times),
            "median_ms": round(median, 3), "p90_ms": round(percentile(entry.times, 90), 3),
            "mean_ms": round(statistics.mean(entry.times), 3), "min_ms": round(min(entry.times), 3),
            "fps": round(1000.0 / median, 3),
            "cpu_ms": round(statistics.median(entry.cpu_times), 3),
            "peak_memory_mb": None if entry.peak_mb is None else round(entry.peak_mb, 1),
            "forward_memory_mb": None if entry.forward_mb is None else round(entry.forward_mb, 1),
            "memory_kind": "torch.cuda.max_memory_allocated" if device.type == "cuda" else "process peak RSS",
            "label_agreement": round(min(entry.agreement), 6),
            "speedup_vs_baseline": round(base_median / median, 3),
        })
    machine = machine_info(device, threads)
    machine["load_average_start"] = load_start  # machine_info runs after the timing
    machine["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    command = "swiftnet-ros bench --model {} --backend {} --precision {} --size {} --runs {} --device {}" \
        .format(weights, backends, precisions, size_text, runs, device_text)
    report = {"command": command,
              "model": meta["model_name"], "weights": weights, "size": "{}x{}".format(size[1], size[0]),
              "runs": runs, "warmup": warmup, "input": "make_scene(0) synthetic road scene",
              "latency": "forward + argmax on a device-resident 1x3xHxW batch, synchronised",
              "machine": machine, "results": results, "skipped": skipped}
    if calibration is not None:
        report["int8_calibration"] = calibration
    int8_folder.cleanup()
    return report


def format_table(report: Dict[str, Any]) -> str:
    """Paper Table 5 style: one row per configuration, speed and agreement side by side."""
    header = ("configuration", "precision", "size", "median ms", "p90 ms", "FPS", "peak MB", "agreement",
              "speed-up")
    rows = [header]
    for r in report["results"]:
        rows.append((r["name"], r["precision"], r["size"], "%.1f" % r["median_ms"], "%.1f" % r["p90_ms"],
                     "%.1f" % r["fps"], "-" if r["peak_memory_mb"] is None else "%.0f" % r["peak_memory_mb"],
                     "%.2f%%" % (100 * r["label_agreement"]), "%.2fx" % r["speedup_vs_baseline"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    machine = report["machine"]
    lines = ["{} on {} ({} threads)".format(report["model"], machine["gpu"] or machine["cpu"],
                                            machine["threads"])]
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(cell.ljust(w) if i < 3 else cell.rjust(w)
                                       for i, (cell, w) in enumerate(zip(row, widths))) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def plot_results(report: Dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report["results"]
    names = ["{} {}".format(r["name"], r["precision"]) for r in results]
    fps = [r["fps"] for r in results]
    width = 6 + 0.065 * max(len(n) for n in names)  # room for long configuration names
    fig, ax = plt.subplots(figsize=(width, 0.5 * len(results) + 1.5))
    bars = ax.barh(range(len(results)), fps, color=["#888888"] + ["#3b75af"] * (len(results) - 1))
    for bar, r in zip(bars, results):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " {:.2f}x, {:.2f}% agree".format(
            r["speedup_vs_baseline"], 100 * r["label_agreement"]), va="center", fontsize=8)
    ax.set_yticks(range(len(results)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("frames per second (median latency)")
    ax.set_xlim(0, max(fps) * 1.45)
    machine = report["machine"]
    load = machine.get("load_average_start")
    ax.set_title("{} at {} on {}, {} thread(s){}".format(
        report["model"], report["size"], machine["gpu"] or machine["cpu"], machine["threads"],
        ", load average {:.1f}".format(load[0]) if load else ""), fontsize=9)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

