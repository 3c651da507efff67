"""``swiftnet-ros build-engine --onnx M [--fp16] [--workspace-mb N] [--timing-cache F] [-o M.engine]``

Writes the serialized engine and ``<engine>.json`` with the ONNX file's metadata (class names,
palette, input size), which the Segmenter needs to run a bare engine file.
"""

import argparse
import os
import sys

from swiftnet_ros.infer.backend_tensorrt import DEFAULT_WORKSPACE_MB


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
    try:
        return _build(args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print("swiftnet-ros build-engine: error: {}".format(error), file=sys.stderr)
        return 1


def _build(args: argparse.Namespace) -> int:
    import torch

    from swiftnet_ros.files import write_bytes_atomic, write_json_atomic
    from swiftnet_ros.infer.backend import resolve_device
    from swiftnet_ros.infer.backend_tensorrt import build_engine, import_tensorrt
    from swiftnet_ros.infer.metadata import encode_metadata, engine_metadata_path, read_onnx_metadata

    meta = read_onnx_metadata(args.onnx)  # FileNotFoundError / ValueError for a missing or foreign file
    trt = import_tensorrt()
    device = resolve_device(args.device)
    if device.type != "cuda":
        raise ValueError("TensorRT engines are built on a CUDA device, got {!r}".format(args.device))
    output = args.output or os.path.splitext(args.onnx)[0] + ".engine"
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
