"""``swiftnet-ros bench --model rn18 --backend torch,onnxruntime --precision fp32 --size 1024x512 --runs 20``

Benchmarks backends against the eager fp32 baseline (``swiftnet_ros.tools.benchmark``); prints the
table and writes the JSON report and the plot where asked.
"""

import argparse

from swiftnet_ros.commands.checks import check_output_file, resolve_weights
from swiftnet_ros.tools.benchmark import format_table, plot_results, run_benchmark


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="rn18",
                        help="preset (random weights) or checkpoint (default rn18)")
    parser.add_argument("--backend", default="torch,onnxruntime",
                        help="comma-separated backends, e.g. torch,torch+jit,onnxruntime,tensorrt")
    parser.add_argument("--precision", default="fp32",
                        help="comma-separated precisions: fp32,fp16,bf16,int8 (fp16: CUDA; bf16: torch on a "
                        "CPU with AVX512-BF16 or AMX, or a GPU with bf16; int8: onnxruntime, quantized on "
                        "the fly)")
    parser.add_argument("--calibration-num", type=int, default=16,
                        help="int8: synthetic calibration scenes (default 16)")
    parser.add_argument("--size", default="1024x512", help="input size WIDTHxHEIGHT (default 1024x512)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per configuration (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per configuration (default 3)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--plot", default=None, help="write a PNG bar chart of FPS and speed-ups here")
    parser.add_argument("--engine-cache-dir", default=None, help="TensorRT engine cache folder")

def run(args: argparse.Namespace) -> int:

    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path:
            check_output_file(path, flag)  # before minutes of timing, not after
    # bad flags: ValueError / FileNotFoundError -> exit 2; a failed run: RuntimeError -> 1 (commands.main)
    report = run_benchmark(resolve_weights(args.model), args.backend, args.precision, args.size, args.runs,
                           args.warmup, args.device, args.threads, args.engine_cache_dir,
                           args.calibration_num)
    print(format_table(report))
    if args.json:
        from swiftnet_ros.files import write_json_atomic

        write_json_atomic(args.json, report)
        print("wrote {}".format(args.json))
    if args.plot:
        plot_results(report, args.plot)
        print("wrote {}".format(args.plot))
    return 0
