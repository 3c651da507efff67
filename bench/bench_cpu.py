"""The README's CPU benchmark: SwiftNet RN-18 (random weights) at 1024x512 on this machine's CPU.

One process, one run: the eager fp32 NCHW baseline (as the reference code runs) and the torch
backend with and without its CPU rewrites, and onnxruntime, timed round-robin. Writes
bench/results/cpu_bench_rn18_1024x512[_Nthread].json and .png. Quote the ratios (speed-up,
agreement): absolute times depend on the machine and on its load.

    python bench/bench_cpu.py              # all cores (2 here): the README's target configuration
    python bench/bench_cpu.py --threads 1  # one thread: time-slicing by other processes hurts every
                                           # configuration alike, so the ratios hold on a busy machine
Further arguments go to `swiftnet-ros bench`, e.g. --runs 5.
"""

import argparse
import os
import sys

from swiftnet_ros.commands.main import main

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
BACKENDS = "torch,torch-winograd,torch-winograd-fold_bn,onnxruntime"

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    args, rest = parser.parse_known_args()
    name = "cpu_bench_rn18_1024x512" + ("_{}thread".format(args.threads) if args.threads else "")
    argv = ["bench", "--model", "rn18", "--size", "1024x512", "--precision", "fp32", "--device", "cpu",
            "--backend", BACKENDS, "--runs", "20", "--warmup", "3",
            "--json", os.path.join(RESULTS, name + ".json"), "--plot", os.path.join(RESULTS, name + ".png")]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    sys.exit(main(argv + rest))
