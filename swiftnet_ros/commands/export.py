"""``swiftnet-ros export --weights W --size WxH [--opset 13] [--fp16] [--argmax MODE] -o M.onnx``

MODE: host (the default), in_graph or host_stride4 (``infer/options.ARGMAX_MODES`` says what each does).

Sizes are WIDTHxHEIGHT, as in the paper (1024x512 = 1024 wide, 512 high).
"""

import argparse
import os

from swiftnet_ros.commands.checks import check_output_file, resolve_weights
from swiftnet_ros.commands.main import UsageError
from swiftnet_ros.infer.export import export_onnx
from swiftnet_ros.infer.options import ARGMAX_MODES, HOST, check_export
from swiftnet_ros.sizes import parse_size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True,
                        help="checkpoint file or preset name (preset: random weights)")
    parser.add_argument("--size", default=None,
                        help="input size WIDTHxHEIGHT, e.g. 1024x512 (default: the config's input_size)")
    parser.add_argument("--opset", type=int, default=13, help="ONNX opset (default 13: TensorRT 8.2's limit)")
    parser.add_argument("--fp16", action="store_true", help="half-precision weights and input")
    parser.add_argument("--argmax", choices=ARGMAX_MODES, default=HOST,
                        help="host (default): output logits, argmax at run time; in_graph: output int32 "
                             "labels; host_stride4: output the stride-4 logits, resize and argmax at run "
                             "time (onnxruntime; the fastest on a CPU)")
    parser.add_argument("-o", "--output", required=True, help="ONNX file to write")


def run(args: argparse.Namespace) -> int:
    from swiftnet_ros.infer.weights import ONNX_SUFFIXES, load_torch_weights

    # the output, the size and the weights are checked before the model is traced
    if not args.output.lower().endswith(ONNX_SUFFIXES):
        raise UsageError("-o {!r}: expected a file name ending in .onnx (the suffix says what a weights "
                         "file is)".format(args.output))
    check_output_file(args.output, "-o")
    check_export(args.opset, args.argmax)
    size = parse_size(args.size) if args.size is not None else None
    model, meta = load_torch_weights(resolve_weights(args.weights))
    if size is None:
        if not model.config.input_size:
            raise UsageError("--size is required: the config of {!r} has no input_size".format(args.weights))
        width, height = model.config.input_size
        size = (height, width)
    export_onnx(model, size, meta["class_names"], meta["palette"], path=args.output, opset=args.opset,
                fp16=args.fp16, argmax=args.argmax, model_name=meta["model_name"])
    print("wrote {} ({} at {}x{} WxH, opset {}, {}, argmax {}, {:.1f} MB)".format(
        args.output, meta["model_name"], size[1], size[0], args.opset, "fp16" if args.fp16 else "fp32",
        args.argmax, os.path.getsize(args.output) / 1e6))
    return 0
