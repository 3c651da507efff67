"""`swiftnet-ros train --config cfg.yaml [overrides]`: train SwiftNet; flags override the YAML values.

Under torchrun (`torchrun --nproc_per_node N -m swiftnet_ros.commands.main train ...`) every process runs this
command and the trainer joins them with DistributedDataParallel (nccl on CUDA, gloo on CPU).
"""

import argparse
import logging
import sys

from swiftnet_ros.train.config import DATASETS, DEVICES, LOSSES, TrainConfig, load_config

# flag -> (config field, type, help); booleans are handled below
_VALUE_FLAGS = [
    ("--dataset", "dataset", str, "dataset kind: " + ", ".join(DATASETS)),
    ("--root", "root", str, "dataset folder (not needed for synthetic)"),
    ("--train-split", "train_split", str, "training split (default train)"),
    ("--val-split", "val_split", str, "validation split (default val)"),
    ("--model", "model", str, "model preset (rn18, rn18-pyramid, mnv2, mnv2-pyramid, jetson-tx2) or a .yaml"),
    ("--blend", "blend", str, "blend variant: 3x3, grouped, separable, 1x1, inverted_residual"),
    ("--upsample", "upsample", str, "upsampling: bilinear or nearest (nearest for the Jetson TX2)"),
    ("--pyramid-levels", "pyramid_levels", int, "0 = single scale with SPP, 2 or 3 = pyramid"),
    ("--init-encoder", "init_encoder", str, "torchvision ImageNet weights file (.pth) for the encoder"),
    ("--init-weights", "init_weights", str, "a checkpoint's weights to start from (fine-tuning)"),
    ("--train-seed", "train_seed", int, "synthetic: first training scene seed"),
    ("--train-num", "train_num", int, "synthetic: number of training scenes"),
    ("--val-seed", "val_seed", int, "synthetic: first validation scene seed"),
    ("--val-num", "val_num", int, "synthetic: number of validation scenes"),
    ("--crop-size", "crop_size", int, "square training crop in pixels (0 = none)"),
    ("--scale-min", "scale_min", float, "smallest random scale"),
    ("--scale-max", "scale_max", float, "largest random scale"),
    ("--epochs", "epochs", int, "number of epochs"),
    ("--batch-size", "batch_size", int, "batch size per process"),
    ("--lr", "lr", float, "learning rate of the new (decoder) parameters"),
    ("--encoder-lr", "encoder_lr", float, "learning rate of the encoder"),
    ("--weight-decay", "weight_decay", float, "weight decay of the new parameters"),
    ("--encoder-weight-decay", "encoder_weight_decay", float, "weight decay of the encoder"),
    ("--min-lr", "min_lr", float, "learning rate at the end of the cosine schedule"),
    ("--loss", "loss", str, "loss: " + ", ".join(LOSSES)),
    ("--eval-every", "eval_every", int, "evaluate every N epochs (0 = only at the end)"),
    ("--eval-batch-size", "eval_batch_size", int, "evaluation batch size"),
    ("--workers", "workers", int, "data loader worker processes"),
    ("--threads", "threads", int, "torch CPU threads (default: torch's choice; 1 is fastest on a busy CPU)"),
    ("--seed", "seed", int, "random seed"),
    ("--device", "device", str, "device: " + ", ".join(DEVICES)),
    ("--out-dir", "out_dir", str, "output folder (checkpoints, logs, TensorBoard, plots)"),
    ("--resume", "resume", str, "resume from a last.pt"),
]
# flag -> (config field, value); each pair sets one boolean
_BOOL_FLAGS = [
    ("--flip", "flip", True), ("--no-flip", "flip", False),
    ("--jitter", "jitter", True), ("--no-jitter", "jitter", False),
    ("--cache", "cache", True), ("--no-cache", "cache", False),
    ("--amp", "amp", True), ("--no-amp", "amp", False),
    ("--sync-bn", "sync_bn", True), ("--no-sync-bn", "sync_bn", False),
    ("--save-fp16", "save_fp16", True), ("--no-save-fp16", "save_fp16", False),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config",
                        help="YAML file whose keys are TrainConfig fields (swiftnet_ros/train/config.py)")
    for flag, dest, kind, help_text in _VALUE_FLAGS:
        parser.add_argument(flag, dest=dest, type=kind, default=None, help=help_text)
    parser.add_argument("--size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"), default=None,
                        help="synthetic scene size (default: the generator's 256 x 512)")
    for flag, dest, value in _BOOL_FLAGS:
        parser.add_argument(flag, dest=dest, action="store_const", const=value, default=None,
                            help="set {} to {}".format(dest, value))
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The YAML given by --config (if any) with every flag that was given applied on top."""
    overrides = {dest: getattr(args, dest) for _, dest, _, _ in _VALUE_FLAGS}
    overrides.update({dest: getattr(args, dest) for _, dest, _ in _BOOL_FLAGS})
    overrides["size"] = args.size
    return load_config(args.config, **overrides)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        config = config_from_args(args)
        from swiftnet_ros.train.trainer import Trainer  # torch is imported only when training really starts

        trainer = Trainer(config, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as e:  # bad config, dataset folder or checkpoint: one clear line
        print("swiftnet-ros train: error: {}".format(e), file=sys.stderr)
        return 2
    best = trainer.fit()
    if best:
        logging.getLogger("swiftnet_ros.train").info("done: best mIoU %.4f (pixel accuracy %.4f) at epoch %d",
                                                     best["miou"], best["pixel_accuracy"], best["epoch"])
    return 0
