"""`swiftnet-ros evaluate --weights W --dataset ... --json out.json|-`: mIoU, per-class IoU, pixel accuracy.

The JSON goes to a file or, with `--json -`, to stdout (progress and log lines go to stderr). A per-class
IoU bar chart is written next to the JSON file (out.png for out.json) or to --plot. Both paths are
checked before the weights load; bad weights, dataset or options are exit 2, a failure during the
evaluation (a bad sample) exit 1, one line each (swiftnet_ros.commands.main prints it).
"""

import argparse
import json
import logging
import os
import sys
import time

from swiftnet_ros.choices import FLOAT_PRECISIONS, FP32
from swiftnet_ros.commands.checks import check_output_file
from swiftnet_ros.commands.deprecated import HelpFormatter, ScalesAction, SizeAction
from swiftnet_ros.commands.main import RunError
from swiftnet_ros.train.config import DATASETS, DEVICES

LOG = logging.getLogger("swiftnet_ros.train")


def _count(low: int) -> object:
    """argparse type: an integer >= low."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError("expected an integer >= {}, got {!r}".format(low, text))
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = HelpFormatter
    parser.add_argument("--weights", required=True,
                        help="checkpoint (.pt) written by swiftnet-ros train or import")
    parser.add_argument("--dataset", required=True, choices=DATASETS, help="dataset kind")
    parser.add_argument("--root", help="dataset folder (not needed for synthetic)")
    parser.add_argument("--split", default="val", help="split to evaluate (default val)")
    parser.add_argument("--seed", type=int, default=424242,
                        help="synthetic: first scene seed (default 424242)")
    parser.add_argument("--num", type=_count(1), default=50, help="synthetic: number of scenes (default 50)")
    parser.add_argument("--size", action=SizeAction, default=None,
                        help="synthetic scene size (default: the generator's 512x256)")
    parser.add_argument("--multi-scale", action="store_true",
                        help="average probabilities over scales 0.5, 0.75, 1, 1.25, 1.5 (paper: +0.9 mIoU)")
    parser.add_argument("--scales", action=ScalesAction, default=None,
                        help="comma-separated scales, e.g. 0.5,1,1.5 (implies multi-scale)")
    parser.add_argument("--flip", action="store_true", help="also average over horizontally flipped images")
    parser.add_argument("--json", default="-", help="output JSON file, or - for stdout (default)")
    parser.add_argument("--plot", default=None,
                        help="per-class IoU chart PNG (default: next to the JSON file)")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="device (default auto)")
    parser.add_argument("--precision", default=FP32, choices=FLOAT_PRECISIONS,
                        help="a checkpoint's precision: fp32 (default: the model as trained), fp16 (CUDA) or "
                        "bf16 (a CPU with AVX512-BF16 or AMX, or a GPU with bf16), run by the torch backend")
    parser.add_argument("--batch-size", type=_count(1), default=1, help="images per batch (default 1)")
    parser.add_argument("--threads", type=_count(1), default=None,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--workers", type=_count(0), default=2,
                        help="data loader worker processes (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")


def _outputs(args: argparse.Namespace) -> tuple:
    """(JSON file or None for stdout, chart file or None), checked before any work."""
    json_path = None if args.json == "-" else args.json
    plot = args.plot or (os.path.splitext(json_path)[0] + ".png" if json_path else None)
    if json_path:
        check_output_file(json_path, "--json")
    if plot:
        check_output_file(plot, "--plot")
    return json_path, plot


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    json_path, plot = _outputs(args)
    import torch

    from swiftnet_ros.files import atomic_path
    from swiftnet_ros.model import load_model
    from swiftnet_ros.train.data import build_eval_dataset, loader_error
    from swiftnet_ros.train.evaluate import PAPER_SCALES, evaluate, plot_per_class_iou
    from swiftnet_ros.train.trainer import select_device

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.weights.lower().endswith(".onnx"):  # an export (int8 from swiftnet-ros quantize too): onnxruntime
        from swiftnet_ros.infer.backend_onnxruntime import OnnxModule

        if args.scales or args.multi_scale or args.flip:
            raise ValueError("--weights {!r} is an ONNX file of fixed size: multi-scale and flip need a "
                             "checkpoint".format(args.weights))
        if args.precision != FP32:
            raise ValueError("--precision {}: an ONNX file runs at its own precision; --precision is for "
                             "checkpoints".format(args.precision))
        model = OnnxModule(args.weights, threads=args.threads)
        meta = model.meta
        args.size = args.size or list(meta["input_size"])  # synthetic scenes at the file's fixed size
        args.workers = 0  # no DataLoader fork once ONNX Runtime's threads run: a forked worker can deadlock
    else:
        model, meta = load_model(args.weights)
        model.float()  # fp16-stored weights evaluate in fp32
    dataset, info = build_eval_dataset(args.dataset, root=args.root, split=args.split, seed=args.seed,
                                       num=args.num, size=args.size)
    names = list(meta["class_names"])
    if len(names) != info.num_classes:
        raise ValueError("{} predicts {} classes but dataset {} has {}".format(
            args.weights, len(names), args.dataset, info.num_classes))
    scales = args.scales or (PAPER_SCALES if args.multi_scale else (1.0,))
    device = select_device(args.device)
    if args.precision != FP32:
        from swiftnet_ros.infer.backend_torch import TorchModule

        model = TorchModule(model, device, args.precision)  # a ValueError where the device lacks it
    start = time.time()
    try:
        result = evaluate(model.to(device), dataset, names, device, batch_size=args.batch_size,
                          workers=args.workers, scales=scales, flip=args.flip, progress=not args.no_progress)
    except (ValueError, OSError, RuntimeError) as exc:  # a bad sample found while evaluating
        raise RunError("evaluation failed: {}".format(loader_error(exc))) from exc
    result.update({
        "weights": args.weights,
        "model": model.config.name,
        "precision": model.meta["precision"] if hasattr(model, "meta") else args.precision,
        "dataset": args.dataset,
        "split": args.split if args.dataset != "synthetic" else None,
        "seed": args.seed if args.dataset == "synthetic" else None,
        "seconds": round(time.time() - start, 1),
    })
    text = json.dumps(result, indent=2)
    if json_path is None:
        print(text)
    else:
        with atomic_path(json_path) as tmp, open(tmp, "w") as f:
            f.write(text + "\n")
    if plot:
        plot_per_class_iou(result["per_class_iou"], meta["palette"], plot,
                           title="{} on {}: mIoU {:.1%}".format(os.path.basename(args.weights), args.dataset,
                                                                result["miou"]))
    LOG.info("mIoU %.4f, pixel accuracy %.4f over %d images%s", result["miou"], result["pixel_accuracy"],
             result["num_images"], ", chart " + plot if plot else "")
    return 0
