"""The README's CPU benchmark: SwiftNet RN-18 (random weights) at 1024x512 on this machine's CPU.

One process, one run: the eager fp32 NCHW baseline (as the reference code runs) and the torch
backend with and without its CPU rewrites, and onnxruntime, timed round-robin. Writes
bench/results/cpu_bench_rn18_1024x512.json and .png. Quote the ratios (speed-up, agreement):
absolute times depend on the machine and its load. Extra arguments are passed on, e.g. --runs 5.
"""

import os
import sys

from swiftnet_ros.cli import main

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
ARGS = ["bench", "--model", "rn18", "--size", "1024x512", "--precision", "fp32", "--device", "cpu",
        "--backend", "torch,torch-winograd,torch-winograd-fold_bn,onnxruntime",
        "--runs", "20", "--warmup", "3",
        "--json", os.path.join(RESULTS, "cpu_bench_rn18_1024x512.json"),
        "--plot", os.path.join(RESULTS, "cpu_bench_rn18_1024x512.png")]

if __name__ == "__main__":
    sys.exit(main(ARGS + sys.argv[1:]))
