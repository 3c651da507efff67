"""`swiftnet-ros train --config cfg.yaml [overrides]`: train SwiftNet; flags override the YAML values.

`swiftnet-ros train --resume run/last.pt [overrides]` continues a run from the config stored in its
last.pt (with --config, from that YAML instead). Ctrl-C keeps the last completed epoch and prints the
command that resumes it (exit 130); a failure during training is one line, also in train.log (exit 1).

Under torchrun (`torchrun --nproc_per_node N -m swiftnet_ros.commands.main train ...`) every process runs this
command and the trainer joins them with DistributedDataParallel (nccl on CUDA, gloo on CPU).
"""

import argparse
import logging
import sys

from swiftnet_ros.commands.deprecated import HelpFormatter, SizeAction
from swiftnet_ros.commands.main import INTERRUPTED_EXIT
from swiftnet_ros.fields import field_info
from swiftnet_ros.train.config import TrainConfig, load_config

# flag -> (config field, type, help); booleans are handled below. Choices come from the config's fields.
_VALUE_FLAGS = [
    ("--dataset", "dataset", str, "dataset kind"),
    ("--root", "root", str, "dataset folder (not needed for synthetic)"),
    ("--train-split", "train_split", str, "training split (default train)"),
    ("--val-split", "val_split", str, "validation split (default val)"),
    ("--model", "model", str, "model preset (rn18, rn18-pyramid, mnv2, mnv2-pyramid, jetson-tx2) or a .yaml"),
    ("--blend", "blend", str, "blend variant"),
    ("--upsample", "upsample", str, "upsampling (nearest for the Jetson TX2)"),
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
    ("--loss", "loss", str, "loss"),
    ("--eval-every", "eval_every", int, "evaluate every N epochs (0 = only at the end)"),
    ("--eval-batch-size", "eval_batch_size", int, "evaluation batch size"),
    ("--workers", "workers", int, "data loader worker processes"),
    ("--threads", "threads", int, "torch CPU threads (default: torch's choice; 1 is fastest on a busy CPU)"),
    ("--seed", "seed", int, "random seed"),
    ("--device", "device", str, "device"),
    ("--out-dir", "out_dir", str, "output folder (checkpoints, logs, TensorBoard, plots)"),
    ("--resume", "resume", str, "resume from a last.pt (alone: with the config stored in it)"),
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
    parser.formatter_class = HelpFormatter
    parser.add_argument("--config",
                        help="YAML file whose keys are TrainConfig fields (swiftnet_ros/train/config.py)")
    for flag, dest, kind, help_text in _VALUE_FLAGS:
        choices = field_info(TrainConfig, dest)[1]["choices"]
        parser.add_argument(flag, dest=dest, type=kind, default=None, choices=choices,
                            help=help_text + (": " + ", ".join(choices) if choices else ""))
    parser.add_argument("--size", action=SizeAction, default=None,
                        help="synthetic scene size (default: the generator's 512x256)")
    for flag, dest, value in _BOOL_FLAGS:
        parser.add_argument(flag, dest=dest, action="store_const", const=value, default=None,
                            help="set {} to {}".format(dest, value))
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The YAML given by --config (else, with --resume, the config stored in that last.pt; else the
    defaults) with every flag that was given applied on top."""
    overrides = {dest: getattr(args, dest) for _, dest, _, _ in _VALUE_FLAGS}
    overrides.update({dest: getattr(args, dest) for _, dest, _ in _BOOL_FLAGS})
    overrides["size"] = args.size
    base = None
    if args.resume and not args.config:
        from swiftnet_ros.train.trainer import stored_config

        base = stored_config(args.resume)
    return load_config(args.config, base=base, **overrides)


def run(args: argparse.Namespace) -> int:
    """Errors before training (config, data, checkpoints) are exit 2, failures during it exit 1; the
    dispatcher prints them (swiftnet_ros.commands.main)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    config = config_from_args(args)
    from swiftnet_ros.train.trainer import Trainer  # torch is imported only when training really starts

    trainer = Trainer(config, progress=not args.no_progress)
    try:
        best = trainer.fit()
    except KeyboardInterrupt:  # the trainer has logged what it kept and how to resume
        return INTERRUPTED_EXIT
    if best:
        logging.getLogger("swiftnet_ros.train").info("done: best mIoU %.4f (pixel accuracy %.4f) at epoch %d",
                                                     best["miou"], best["pixel_accuracy"], best["epoch"])
    return 0
