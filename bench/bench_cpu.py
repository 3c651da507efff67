"""The README's CPU benchmark: SwiftNet at 1024x512 on this machine's CPU, fp32, bf16 and int8.

One process, one run: the eager fp32 NCHW baseline (as the reference code runs), what ``backend:
auto`` chooses here (timed), the torch backend with and without its CPU rewrites in fp32 and bf16,
and onnxruntime in fp32 and int8 (quantized on the fly, calibrated on synthetic scenes that are not
the timed one), timed round-robin. Writes
bench/results/cpu_bench_<name>_1024x512_<cpu>[_Nthread].json and .png, where <cpu> names the CPU
(e.g. epyc-avx2, xeon-amx: one model name can hide different CPUs). Quote the ratios (speed-up, agreement):
absolute times depend on the machine and on its load.

    python bench/bench_cpu.py                                   # RN-18 (random weights), all cores
    python bench/bench_cpu.py --model runs/cpu_rn18_1024/best.pt --name rn18-trained
    python bench/bench_cpu.py --threads 1                       # one thread
    python bench/bench_cpu.py --table bench/results/X.json      # the README's table rows of a run
Further arguments go to `swiftnet-ros bench`, e.g. --runs 5.
"""

import argparse
import json
import os
import sys
from typing import Sequence

from swiftnet_ros.commands.main import main
from swiftnet_ros.infer.cpu import cpu_model, vector_flags

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
BACKENDS = "auto,torch,torch-winograd,onnxruntime"
PRECISIONS = "fp32,bf16,int8"  # bf16 where the CPU has it (else skipped with the reason)


def cpu_slug(name: str, flags: Sequence[str]) -> str:
    """A short file-name word for the CPU, its kind and its widest vector unit: "epyc-avx2",
    "epyc-avx512", "xeon-amx" (one model name can hide different CPUs), else the name's first letters."""
    lower = name.lower()
    word = next((w for w in ("epyc", "xeon", "ryzen", "core") if w in lower), None)
    if word is None:
        word = "".join(c if c.isalnum() else "-" for c in lower)[:24].strip("-") or "cpu"
    units = (("amx_bf16", "amx"), ("avx512f", "avx512"), ("avx2", "avx2"))
    unit = next((u for f, u in units if f in flags), None)
    return "{}-{}".format(word, unit) if unit else word


def table(report: dict) -> str:
    """The README's rows for one run: configuration, precision, speed-up, label agreement."""
    machine = report["machine"]
    lines = ["{} at {} on {}, {} thread(s), load average {:.1f} at the start ({})".format(
        report["model"], report["size"], machine["cpu"], machine["threads"],
        (machine.get("load_average_start") or [0.0])[0], os.path.basename(report.get("json", ""))),
        "", "| configuration | precision | median ms | speed-up | label agreement |",
        "|---|---|---:|---:|---:|"]
    for r in report["results"]:
        lines.append("| {} | {} | {:.0f} | {:.2f}× | {:.2f}% |".format(
            r["name"], r["precision"], r["median_ms"], r["speedup_vs_baseline"], 100 * r["label_agreement"]))
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--model", default="rn18", help="preset or checkpoint (default rn18, random weights)")
    parser.add_argument("--name", default=None, help="the JSON's model word (default: --model's name)")
    parser.add_argument("--table", default=None, help="print the README rows of this committed JSON and stop")
    args, rest = parser.parse_known_args()
    if args.table:
        with open(args.table) as f:
            print(table(dict(json.load(f), json=args.table)))
        sys.exit(0)
    model_word = args.name or os.path.splitext(os.path.basename(args.model))[0]
    name = "cpu_bench_{}_1024x512_{}{}".format(model_word, cpu_slug(cpu_model(), vector_flags()),
                                               "_{}thread".format(args.threads) if args.threads else "")
    argv = ["bench", "--model", args.model, "--size", "1024x512", "--precision", PRECISIONS,
            "--device", "cpu", "--backend", BACKENDS, "--runs", "20", "--warmup", "3",
            "--json", os.path.join(RESULTS, name + ".json"), "--plot", os.path.join(RESULTS, name + ".png")]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    sys.exit(main(argv + rest))
