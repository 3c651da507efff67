"""``swiftnet-ros build-engine --onnx M [--fp16] [--workspace-mb N] [--timing-cache F] [-o M.engine]``

Writes the serialized engine and ``<engine>.json`` with the ONNX file's metadata (class names,
palette, input size), which the Segmenter needs to run a bare engine file.
"""

import argparse
import os

from swiftnet_ros.commands.checks import check_output_file
from swiftnet_ros.commands.main import UsageError
from swiftnet_ros.infer.backend_tensorrt import DEFAULT_WORKSPACE_MB
from swiftnet_ros.infer.weights import ENGINE_SUFFIXES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onnx", required=True, help="ONNX file from `swiftnet-ros export`")
    parser.add_argument("--fp16", action="store_true", help="allow fp16 kernels (TX2: ~10-15%% faster)")
    parser.add_argument("--workspace-mb", type=int, default=DEFAULT_WORKSPACE_MB,
                        help="builder workspace in MiB (default %(default)s; lower it on a Jetson)")
    parser.add_argument("--timing-cache", default=None,
                        help="timing cache file: read if present, updated after the build")
    parser.add_argument("-o", "--output", default=None,
                        help="engine file (default: the ONNX path with .engine)")
    parser.add_argument("--device", default="cuda", help="CUDA device (default cuda)")


def run(args: argparse.Namespace) -> int:
    """Every flag and file is checked before TensorRT loads (an engine build takes minutes)."""
    import torch

    from swiftnet_ros.files import write_bytes_atomic, write_json_atomic
    from swiftnet_ros.infer.backend import resolve_device
    from swiftnet_ros.infer.backend_tensorrt import build_engine, import_tensorrt
    from swiftnet_ros.infer.metadata import encode_metadata, engine_metadata_path, read_onnx_metadata

    meta = read_onnx_metadata(args.onnx)  # FileNotFoundError / ValueError for a missing or foreign file
    output = args.output or os.path.splitext(args.onnx)[0] + ".engine"
    if not output.lower().endswith(ENGINE_SUFFIXES):
        raise UsageError("-o {!r}: expected a file name ending in {} (the suffix says what a weights file is)"
                         .format(output, " or ".join(ENGINE_SUFFIXES)))
    check_output_file(output, "-o")
    if args.timing_cache:
        check_output_file(args.timing_cache, "--timing-cache")
    if args.workspace_mb < 1:
        raise UsageError("--workspace-mb {}: expected at least 1 (MiB)".format(args.workspace_mb))
    trt = import_tensorrt()  # RuntimeError (exit 1) where TensorRT is missing
    device = resolve_device(args.device)
    if device.type != "cuda":
        raise UsageError("TensorRT engines are built on a CUDA device, got --device {!r}".format(args.device))
    with open(args.onnx, "rb") as f:
        onnx_bytes = f.read()
    with torch.cuda.device(device):
        engine = build_engine(onnx_bytes, fp16=args.fp16, workspace_mb=args.workspace_mb,
                              timing_cache=args.timing_cache)
    write_bytes_atomic(output, engine)
    precision = "fp16" if args.fp16 or meta["precision"] == "fp16" else "fp32"
    props = encode_metadata(meta["model_name"], meta["class_names"], meta["palette"], meta["input_size"],
                            meta["upsample"], meta["output"], precision, meta["config"])
    props["tensorrt_version"] = trt.__version__
    props["gpu"] = torch.cuda.get_device_name(device)
    write_json_atomic(engine_metadata_path(output), props)
    print("wrote {} ({:.1f} MB, TensorRT {}, {}) and {}".format(output, len(engine) / 1e6, trt.__version__,
                                                               precision, engine_metadata_path(output)))
    return 0
