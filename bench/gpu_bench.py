"""The GPU fast-path benchmark: one prepared run that builds, checks and times everything.

    PYTHONPATH=. python3 bench/gpu_bench.py --out "$OUT"            # on the GPU machine (--budget-s)
    python bench/gpu_bench.py --smoke --out /tmp/gpu_bench_smoke     # the same code paths on a CPU

For each model (RN-18 / MN V2, single-scale and pyramid) and size (2048x1024, 1024x512), batch 1:
the baseline (plain eager fp32 NCHW, as the reference code runs), eager fp16, fp16 channels_last,
fp16 + BN folding + channels_last + CUDA graph, torch.compile (inductor, freezing; per mode), and
the Segmenter end to end (uint8 image in host memory -> labels in host memory). Per configuration:
median / p90 latency from CUDA events after warm-up, FPS, peak memory, label agreement with the
fp32 baseline on synthetic road scenes (the demo checkpoint where it fits, else seeded random
weights). With --profile, torch.profiler splits each variant's wall time into GPU kernel time and
the rest (launch gaps) and lists its slowest kernels, for the notes. Installs nothing; writes
gpu_bench.json (the `swiftnet-ros bench` schema plus model params/GMAC) and prints a table.
Results, what each run cost and what limits each variant: bench/results/gpu_notes.md.
"""

import argparse
import importlib
import os
import statistics
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from swiftnet_ros.data.synthetic import make_scene  # noqa: E402
from swiftnet_ros.files import write_json_atomic  # noqa: E402
from swiftnet_ros.infer.backend_torch import TorchBackend, has_torch_compile  # noqa: E402
from swiftnet_ros.infer.registry import check_options  # noqa: E402
from swiftnet_ros.infer.rewrites.fused import FusedConv, is_fusable  # noqa: E402
from swiftnet_ros.infer.segmenter import Segmenter, image_to_batch  # noqa: E402
from swiftnet_ros.infer.weights import load_torch_weights  # noqa: E402
from swiftnet_ros.model.profile import profile_model  # noqa: E402
from swiftnet_ros.sizes import parse_size  # noqa: E402
from swiftnet_ros.stats import percentile  # noqa: E402
from swiftnet_ros.tools.benchmark import format_table, machine_info  # noqa: E402

DEMO_CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "demo", "swiftnet_demo.pt")
Run = Callable[[torch.Tensor], torch.Tensor]
VARIANTS = ("eager16", "eager16cl", "foldbn", "fused_nocudnn", "fused", "fused_head", "fused_head_nchw",
            "fused_compile", "fused_compile_plain", "fused_compile_nchw_head", "foldbn_head", "e2e_foldbn",
            "e2e_fused", "e2e_fused_head", "e2e_fused_compile")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for gpu_bench.json")
    parser.add_argument("--models", default="rn18,mnv2,rn18-pyramid,mnv2-pyramid")
    parser.add_argument("--sizes", default="2048x1024,1024x512", help="WIDTHxHEIGHT list")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per configuration")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs per configuration")
    parser.add_argument("--scenes", type=int, default=4, help="synthetic scenes for label agreement")
    parser.add_argument("--compile-models", default="rn18",
                        help="models that also get torch.compile variants (each compile is slow: "
                             "bench/results/gpu_notes.md)")
    parser.add_argument("--compile-modes", default="reduce-overhead",
                        help="torch.compile modes (max-autotune compiles too long for one lease: "
                             "bench/results/gpu_notes.md)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="which configurations to run (default all): " + ", ".join(VARIANTS))
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="stop starting new configurations after this many seconds")
    parser.add_argument("--profile", action="store_true", help="profile each variant (kernel vs gap time)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--weights-dir", default=None,
                        help="folder of training runs: <name>/best.pt is used for model <name> where present")
    parser.add_argument("--smoke", action="store_true",
                        help="CPU check of every code path: tiny sizes, few runs, CUDA-only variants skipped")
    args = parser.parse_args(argv)
    if args.smoke:
        args.device, args.sizes, args.runs, args.warmup, args.scenes = "cpu", "96x64", 3, 1, 2
        args.compile_models = ""
    return args


def choose_weights(name: str, weights_dir: Optional[str]) -> str:
    """Trained weights where there are some (WEIGHTS_DIR/<name>/best.pt, or the demo checkpoint for
    mnv2), else the preset name (seeded random weights)."""
    trained = os.path.join(weights_dir, name, "best.pt") if weights_dir else ""
    if trained and os.path.isfile(trained):
        return trained
    if name == "mnv2" and os.path.exists(DEMO_CHECKPOINT):
        return DEMO_CHECKPOINT
    return name


class Timer:
    """Milliseconds per call: CUDA events on a GPU (device time), perf_counter on a CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __call__(self, fn: Callable[[], Any]) -> float:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))
        start_s = time.perf_counter()
        fn()
        return (time.perf_counter() - start_s) * 1e3


def eager(model: torch.nn.Module, half: bool, channels_last: bool) -> Tuple[Run, str]:
    """The model as the reference code runs it, optionally in fp16 and/or NHWC."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = model.half() if half else model
    net = net.to(memory_format=fmt)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x = x.half() if half else x
            return net(x.contiguous(memory_format=fmt)).argmax(1).to(torch.uint8)

    flags = (" fp16" if half else "") + (" channels_last" if channels_last else "")
    return run, "model(x).argmax(1)" + flags


def compiled(model: torch.nn.Module, device: torch.device, mode: str) -> Tuple[Run, str]:
    """BN folded, NHWC fp16, argmax in the graph, compiled by inductor with weight freezing."""
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True
    backend = TorchBackend(model, device, "fp16", fold_bn=True, channels_last=True)
    fn = torch.compile(backend.head, mode=mode, dynamic=False)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return fn(x.half().contiguous(memory_format=torch.channels_last))

    return run, "torch.compile(mode={}, freezing) of fp16 NHWC BN-folded model + argmax".format(mode)


def agreement_of(labels: Any, reference: torch.Tensor) -> float:
    """Fraction of pixels where host labels equal the device-resident reference labels."""
    return float((torch.from_numpy(labels).to(reference.device) == reference).float().mean())


def kernel_split(run: Run, x: torch.Tensor, device: torch.device, iters: int = 10) -> Dict[str, Any]:
    """Where the time goes: device kernel time vs wall time (the rest is launch gaps / host work)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(iters):
            run(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall_ms = (time.perf_counter() - start) * 1e3 / iters
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, attr, 0) > 0]
    events.sort(key=lambda e: getattr(e, attr), reverse=True)
    kernel_ms = sum(getattr(e, attr) for e in events) / 1e3 / iters if device.type == "cuda" else None
    top = [{"name": e.key[:90], "ms_per_frame": round(getattr(e, attr) / 1e3 / iters, 4),
            "calls": e.count // iters} for e in events[:8]]
    return {"wall_ms": round(wall_ms, 4), "kernel_ms": None if kernel_ms is None else round(kernel_ms, 4),
            "gap_ms": None if kernel_ms is None else round(wall_ms - kernel_ms, 4), "top": top}


def bench_model_size(name: str, size: Tuple[int, int], args: argparse.Namespace, device: torch.device,
                     deadline: float, skipped: List[Dict[str, str]]) -> List[Dict[str, Any]]:
    """All configurations of one model at one size, timed round-robin after their warm-ups."""
    weights = choose_weights(name, args.weights_dir)
    base_model, meta = load_torch_weights(weights)
    base_model = base_model.float().eval()
    prof = profile_model(base_model, size[1], size[0])
    scenes = [make_scene(1000 + i, size)[0] for i in range(args.scenes)]
    batches = [image_to_batch(img, True, device, size) for img in scenes]
    # the fused model takes the camera's uint8 pixels as they are (a channels-last view), like the Segmenter
    inputs = {"float32": batches,
              "uint8": [image_to_batch(img, True, device, size, keep_uint8=True) for img in scenes]}
    timer = Timer(device)

    def fresh() -> torch.nn.Module:
        model, _ = load_torch_weights(weights)
        return model.float().eval().to(device)

    variants = []  # type: List[Tuple[str, str, Dict[str, Any], Run, str, str]]
    variants.append(("baseline (eager fp32 NCHW)", "fp32", {}) + eager(fresh(), False, False) + ("float32",))

    def add(label: str, precision: str, build: Callable[[], Tuple[Dict[str, Any], Run, str]],
            input_kind: str = "float32") -> None:
        """One variant; a failure to build it is a result (in "skipped"), not the end of the run."""
        if time.monotonic() > deadline:
            skipped.append({"config": label, "model": name, "error": "time budget"})
            return
        try:
            start = time.perf_counter()
            opts, run, describe = build()
            run(inputs[input_kind][0])  # first call: graph capture, compilation, cuDNN autotuning
            build_times[label] = time.perf_counter() - start
            variants.append((label, precision, opts, run, describe, input_kind))
        except Exception as error:  # noqa: BLE001 - a failing variant is reported, the others still run
            traceback.print_exc()
            skipped.append({"config": label, "model": name, "error": repr(error)[:300]})

    def backend_variant(options: Dict[str, Any], precision: str, plain_convs: bool = False,
                        nchw_head: bool = False, compile_model: bool = False
                        ) -> Callable[[], Tuple[Dict[str, Any], Run, str]]:
        def build() -> Tuple[Dict[str, Any], Run, str]:
            backend = TorchBackend(fresh(), device, precision, **options)
            if compile_model:  # model and head compiled as two functions: the head keeps its NCHW input
                backend.head.model = torch.compile(backend.head.model, dynamic=False)
            if nchw_head:  # hand the compiled head plane-contiguous scores (coalesced loads per class)
                head = backend.head.postprocess
                backend.head.postprocess = lambda logits, size, mode: head(logits.contiguous(), size, mode)
            if plain_convs:  # the fused model without cuDNN's conv+ReLU fusion: what that fusion buys
                for module in backend.model.modules():
                    if isinstance(module, FusedConv):
                        module.cudnn_fusion = False
            describe = backend.describe() + (" (cuDNN fusion off)" if plain_convs else "") + \
                (" (NCHW scores into the head)" if nchw_head else "") + \
                (" (model compiled apart from the head)" if compile_model else "")
            return dict(options, cudnn_fusion=not plain_convs) if plain_convs else dict(options), \
                backend.labels, describe
        return build

    build_times = {}  # type: Dict[str, float]
    fusable = is_fusable(base_model)
    compile_ok = device.type == "cuda" and has_torch_compile()
    wanted = set(args.variants.split(","))
    graph = check_options("torch", {"channels_last": True, "cuda_graphs": True})  # misspelt: fails here
    fused = dict(graph, fuse=True)
    if device.type == "cuda":
        if "eager16" in wanted:
            add("eager fp16", "fp16", lambda: ({},) + eager(fresh(), True, False))
        if "eager16cl" in wanted:
            add("eager fp16 channels_last", "fp16",
                lambda: ({"channels_last": True},) + eager(fresh(), True, True))
        if "foldbn" in wanted:
            add("fp16 fold_bn + channels_last + CUDA graph", "fp16",
                backend_variant(dict(graph, fold_bn=True), "fp16"))
        if fusable:
            # key, label, backend options, backend_variant switches, needs torch.compile
            for key, label, options, switches, compiles in (
                    ("fused_nocudnn", "fp16 fused, cuDNN fusion off + CUDA graph", fused,
                     {"plain_convs": True}, False),
                    ("fused", "fp16 fused + CUDA graph", fused, {}, False),
                    ("fused_head", "fp16 fused + compiled head + CUDA graph", dict(fused, compile_head=True),
                     {}, True),
                    ("fused_head_nchw", "fp16 fused + compiled head on NCHW scores + CUDA graph",
                     dict(fused, compile_head=True), {"nchw_head": True}, True),
                    ("fused_compile",
                     "fp16 fused + torch.compile (inductor, cuDNN fused convs kept) + CUDA graph",
                     dict(fused, compile=True), {}, True),
                    ("fused_compile_plain", "fp16 fused + torch.compile (inductor, plain convs) + CUDA graph",
                     dict(fused, compile=True), {"plain_convs": True}, True),
                    ("fused_compile_nchw_head",
                     "fp16 fused + torch.compile of the model, compiled head on NCHW scores + CUDA graph",
                     dict(fused, compile_head=True), {"compile_model": True}, True)):
                if key in wanted and (compile_ok or not compiles):
                    add(label, "fp16", backend_variant(options, "fp16", **switches), "uint8")
        elif compile_ok and "foldbn_head" in wanted:
            add("fp16 fold_bn + compiled head + CUDA graph", "fp16",
                backend_variant(dict(graph, fold_bn=True, compile_head=True), "fp16"))
    else:
        skipped.append({"config": "fp16 variants, CUDA graphs", "model": name, "error": "needs CUDA"})
        add("fp32 fold_bn + channels_last", "fp32",
            backend_variant({"fold_bn": True, "channels_last": True}, "fp32"))
        if fusable:
            add("fp32 fused + channels_last", "fp32",
                backend_variant({"fuse": True, "channels_last": True}, "fp32"), "uint8")
    if name in [m for m in args.compile_models.split(",") if m] and has_torch_compile():
        for mode in [m for m in args.compile_modes.split(",") if m]:
            add("fp16 compile " + mode, "fp16",
                lambda: ({"compile": mode},) + compiled(fresh(), device, mode))  # noqa: B023
    compile_times = {k: v for k, v in build_times.items() if "compile" in k}
    precision = "fp16" if device.type == "cuda" else "fp32"
    e2e_configs = []  # type: List[Tuple[str, Dict[str, Any]]]
    if device.type == "cuda":
        if "e2e_foldbn" in wanted:
            e2e_configs.append(("fold_bn", dict(graph, fold_bn=True)))
        if fusable and "e2e_fused" in wanted:
            e2e_configs.append(("fused", fused))
        if fusable and compile_ok and "e2e_fused_head" in wanted:
            e2e_configs.append(("fused, compiled head", dict(fused, compile_head=True)))
        if fusable and compile_ok and "e2e_fused_compile" in wanted:
            e2e_configs.append(("fused, torch.compile", dict(fused, compile=True)))
    else:
        e2e_configs.append(("fold_bn", {"fold_bn": True, "channels_last": True}))
    segmenters = []  # type: List[Tuple[str, Dict[str, Any], Segmenter]]
    for e2e_name, seg_options in e2e_configs:
        label = "Segmenter end to end, {} ({}, host uint8 -> host labels)".format(e2e_name, precision)
        try:
            segmenters.append((label, seg_options, Segmenter(weights, backend="torch", precision=precision,
                                                             device=str(device), input_size=size, warmup=3,
                                                             backend_options=seg_options)))
        except Exception as error:  # noqa: BLE001 - reported, the others still run
            skipped.append({"config": label, "model": name, "error": repr(error)[:300]})

    # reference labels, warm-up, memory, agreement
    reference = [variants[0][3](b).clone() for b in batches]
    entries = []
    for label, prec, opts, run, describe, input_kind in variants:
        xs = inputs[input_kind]
        for _ in range(args.warmup):
            run(xs[0])
        peak = None
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            run(xs[0])
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device) / 2 ** 20
        agreement = min(float((run(b) == r).float().mean()) for b, r in zip(xs, reference))
        entries.append({"name": label, "precision": prec, "options": opts, "describe": describe, "run": run,
                        "peak": peak, "agreement": agreement, "times": [], "input": input_kind})
    e2e = []  # type: List[Dict[str, Any]]
    for label, seg_options, segmenter in segmenters:
        agreement = min(agreement_of(segmenter.segment(img).labels, r) for img, r in zip(scenes, reference))
        for _ in range(args.warmup):
            segmenter.segment(scenes[0])
        e2e.append({"name": label, "precision": precision, "options": seg_options,
                    "describe": segmenter.describe(), "run": None, "peak": None, "agreement": agreement,
                    "times": [], "segmenter": segmenter, "stages": []})
    # timed, round-robin so that drifting clocks hit every configuration alike
    for _ in range(args.runs):
        for entry in entries:
            run = entry["run"]
            x = inputs[entry["input"]][0]
            entry["times"].append(timer(lambda: run(x)))  # noqa: B023 - called right here
        for entry in e2e:
            start = time.perf_counter()
            stages = entry["segmenter"].segment(scenes[0]).timings
            entry["times"].append((time.perf_counter() - start) * 1e3)
            entry["stages"].append(stages)
    entries.extend(e2e)

    base_median = statistics.median(entries[0]["times"])
    results = []
    for entry in entries:
        median = statistics.median(entry["times"])
        result = {
            "model": meta["model_name"], "weights": str(weights) if weights == name else
            os.path.relpath(str(weights)),
            "params": prof["params"], "gmacs": round(prof["gmacs"], 2),
            "name": entry["name"], "backend": "torch", "precision": entry["precision"],
            "options": entry["options"], "describe": entry["describe"],
            "size": "{}x{}".format(size[1], size[0]), "batch": 1, "runs": len(entry["times"]),
            "timing": "CUDA events" if device.type == "cuda" and entry["run"] is not None else "wall clock",
            "median_ms": round(median, 4), "p90_ms": round(percentile(entry["times"], 90), 4),
            "fps": round(1000.0 / median, 2),
            "input": "host uint8 image" if entry["run"] is None else
            "device uint8 1x3xHxW (channels-last view of the image)" if entry["input"] == "uint8" else
            "device float32 1x3xHxW",
            "peak_memory_mb": None if entry["peak"] is None else round(entry["peak"], 1),
            "label_agreement": round(entry["agreement"], 6),
            "speedup_vs_baseline": round(base_median / median, 3),
        }
        if entry.get("stages"):  # where the Segmenter's time goes: preprocess (upload), inference, download
            result["stages_ms_median"] = {k: round(statistics.median(t[k] for t in entry["stages"]), 4)
                                          for k in entry["stages"][0]}
        if entry["name"] in compile_times:
            result["compile_s"] = round(compile_times[entry["name"]], 1)
        elif entry["name"] in build_times:
            result["first_call_s"] = round(build_times[entry["name"]], 2)
        if args.profile and entry["run"] is not None:
            result["profile"] = kernel_split(entry["run"], inputs[entry["input"]][0], device)
        results.append(result)
    return results


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_bench: error: --device {} but CUDA is not available (use --smoke on a CPU)"
              .format(args.device), file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    # one process compiles the same small functions for many models and sizes: room for all of them
    if has_torch_compile():
        dynamo_config = importlib.import_module("torch._dynamo.config")
        for limit in ("cache_size_limit", "recompile_limit"):
            if hasattr(dynamo_config, limit):
                setattr(dynamo_config, limit, 64)
    start = time.monotonic()
    deadline = start + args.budget_s
    results, skipped = [], []  # type: Tuple[List[Dict[str, Any]], List[Dict[str, str]]]
    path = os.path.join(args.out, "gpu_bench.json")
    os.makedirs(args.out, exist_ok=True)

    def write_report() -> Dict[str, Any]:
        """Written after every model and size, so a run cut short still leaves what it measured."""
        report = {"command": "bench/gpu_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                  "latency": "model call: forward + argmax on a device-resident 1x3xHxW batch (CUDA events); "
                             "Segmenter: host uint8 image to host labels (wall clock)",
                  "input": "synthetic road scenes make_scene(1000..)",
                  "fp32_baseline_note": "PyTorch's default cuDNN TF32 for fp32 convolutions: allow_tf32={}"
                  .format(torch.backends.cudnn.allow_tf32),
                  "machine": machine_info(device, torch.get_num_threads()),
                  "elapsed_s": round(time.monotonic() - start, 1), "results": results, "skipped": skipped}
        write_json_atomic(path, report)
        return report

    for name in args.models.split(","):  # model first: the RN-18 rows (the targets) come first
        for size_text in args.sizes.split(","):
            size = parse_size(size_text)
            if time.monotonic() > deadline:
                skipped.append({"config": "all", "model": name, "size": size_text, "error": "time budget"})
                continue
            t0 = time.monotonic()
            try:
                rows = bench_model_size(name, size, args, device, deadline, skipped)
            except Exception as error:  # noqa: BLE001 - one model failing must not lose the others
                traceback.print_exc()
                skipped.append({"config": "all", "model": name, "size": size_text,
                                "error": repr(error)[:300]})
                continue
            results.extend(rows)
            print(format_table({"model": "{} {}".format(name, size_text), "results": rows,
                                "machine": machine_info(device, torch.get_num_threads())}))
            print("({:.0f} s)".format(time.monotonic() - t0), flush=True)
            write_report()
    report = write_report()
    bad = [r for r in results if r["label_agreement"] < 0.995]
    for r in bad:
        print("label agreement below 99.5%: {} {} {}: {:.4f}".format(r["model"], r["size"], r["name"],
                                                                    r["label_agreement"]), file=sys.stderr)
    print("wrote {} ({} results, {} skipped, {:.0f} s)".format(path, len(results), len(skipped),
                                                              report["elapsed_s"]))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
