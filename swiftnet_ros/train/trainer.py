"""The training loop: one process, or one process per device under torchrun (DistributedDataParallel).

Layout of out_dir (written by rank 0 only; checkpoints are written to a temporary file and renamed,
so a crash never leaves a torn one): config.yaml, train.log, last.pt (everything needed to
resume: model, optimiser, scheduler, AMP scaler, epoch, best mIoU, history), best.pt (the weights
with the best validation mIoU, optionally fp16), history.json, per_class_iou.png and tb/ (TensorBoard
scalars train/loss, train/lr, val/miou, val/pixel_accuracy).

Nothing is written before every start-up check has passed (the log lines of the set-up are kept in
memory until then): a run that fails at start leaves no config.yaml or train.log. A failure during
training is logged into train.log as one line and raised as TrainingError; Ctrl-C (SIGINT) keeps
the last completed epoch's last.pt, writes history.json, the chart and a last train.log line that
says how to resume, then re-raises KeyboardInterrupt.

Randomness: every epoch reseeds torch, numpy and random from (seed, epoch, rank), so the epoch
number stored in last.pt restores the random stream exactly: a resumed run makes the same crops,
flips and batch order as an uninterrupted one, on any number of processes.
"""

import contextlib
import copy
import json
import logging
import logging.handlers
import math
import os
import random
import shutil
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from swiftnet_ros.data.transforms import pad_collate
from swiftnet_ros.fields import ConfigError
from swiftnet_ros.infer.backend import resolve_device
from swiftnet_ros.model import build_model, load_model, save_checkpoint
from swiftnet_ros.model.checkpoints import read_checkpoint
from swiftnet_ros.train.config import TrainConfig, save_config
from swiftnet_ros.train.data import DatasetInfo, build_datasets, loader_error
from swiftnet_ros.train.evaluate import evaluate, plot_per_class_iou
from swiftnet_ros.train.losses import build_loss
from swiftnet_ros.train.optim import build_optimizer, build_scheduler, replan_cosine

LOG = logging.getLogger("swiftnet_ros.train")


class TrainingError(RuntimeError):
    """Training stopped by a failure after it started (a bad sample, a non-finite loss, a full disk);
    the one-line message is also the last line of train.log."""


@dataclass
class DistInfo:
    """Where this process sits in a torchrun job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "DistInfo":
        """torchrun sets RANK, WORLD_SIZE and LOCAL_RANK."""
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    """DataLoader workers get distinct torch seeds; give numpy and random distinct seeds too."""
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)


def stored_config(path: str) -> Dict[str, Any]:
    """The training config a last.pt was written with, so that ``--resume last.pt`` needs nothing else."""
    data = read_checkpoint(path)
    state = data.get("train_state") if isinstance(data, dict) else None
    if not isinstance(state, dict) or not isinstance(state.get("train_config"), dict):
        raise ConfigError("resume checkpoint {!r} has no training state; expected a last.pt written by "
                          "swiftnet-ros train".format(path))
    values = dict(state["train_config"])
    values.pop("resume", None)
    return values


def check_out_dir(path: str) -> None:
    """out_dir is a writable folder or can be made one (checked before any work, nothing created)."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise ConfigError("out_dir={!r} is a file; expected a folder (created if missing)".format(path))
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError("out_dir={!r} is not writable; expected a folder this user can write".format(
                path))
        return
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError("out_dir={!r} cannot be created ({!r} is not a writable folder); expected a "
                          "folder that can be made".format(path, parent))


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """infer's device parsing ("auto" | "cpu" | "cuda" | "cuda:N"), with a bare "cuda" meaning this
    process's GPU (LOCAL_RANK) under torchrun."""
    device = resolve_device(name)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank)
    return device


class Trainer:
    """Builds model, data, optimiser and loss from a TrainConfig and runs (or resumes) training.

    train_set / val_set / info may be given to train on datasets built elsewhere (tests do);
    otherwise they come from the config's dataset options.
    """

    def __init__(self, config: TrainConfig, train_set: Optional[Dataset] = None,
                 val_set: Optional[Dataset] = None, info: Optional[DatasetInfo] = None,
                 progress: bool = True) -> None:
        self.cfg = config
        self.dist = DistInfo.from_env()
        self.out_dir = config.out_dir
        self.log_handler: Optional[logging.Handler] = None
        self.writer = None
        self.epochs_done = 0
        # set-up log lines wait here until every start-up check has passed (then go into train.log)
        self._startup_log = logging.handlers.MemoryHandler(capacity=1 << 20, flushLevel=logging.CRITICAL + 1)
        if self.dist.is_main:
            LOG.addHandler(self._startup_log)
            if LOG.level == logging.NOTSET or LOG.level > logging.INFO:
                LOG.setLevel(logging.INFO)
        else:
            LOG.setLevel(logging.WARNING)  # one voice: rank 0 logs progress
        try:
            self._set_up(train_set, val_set, info, progress)
        finally:
            LOG.removeHandler(self._startup_log)
        if self.dist.is_main:
            self._open_out_dir()
        else:
            self._startup_log.close()

    def _set_up(self, train_set: Optional[Dataset], val_set: Optional[Dataset], info: Optional[DatasetInfo],
                progress: bool) -> None:
        config = self.cfg
        if self.dist.is_main:
            check_out_dir(config.out_dir)
        self.device = select_device(config.device, self.dist.local_rank)
        self.progress = progress and self.dist.is_main
        if config.sync_bn and self.device.type != "cuda":
            raise ValueError("sync_bn needs CUDA (SyncBatchNorm has no CPU kernels); got device {}".format(
                self.device))
        if self.dist.distributed and not dist.is_initialized():
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)

        if train_set is None or val_set is None or info is None:
            train_set, val_set, info = build_datasets(config)
        self.train_set, self.val_set, self.info = train_set, val_set, info
        self.use_amp = bool(config.amp) and self.device.type == "cuda"
        self.model = self._build_model()
        self.net = self.model  # what the training step calls: the model, or DDP around it
        if self.dist.distributed:
            if config.sync_bn:
                self.net = nn.SyncBatchNorm.convert_sync_batchnorm(self.net)
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.net, device_ids=device_ids)
            self.model = self.net.module

        world = self.dist.world_size
        self.sampler = DistributedSampler(train_set, num_replicas=world, rank=self.dist.rank, shuffle=True,
                                          seed=config.seed,
                                          drop_last=len(train_set) >= world * config.batch_size)
        self.loader = DataLoader(train_set, batch_size=config.batch_size, sampler=self.sampler,
                                 num_workers=config.workers, worker_init_fn=_worker_init,
                                 collate_fn=pad_collate, pin_memory=self.device.type == "cuda",
                                 drop_last=len(self.sampler) >= config.batch_size)
        if len(self.loader) == 0:
            raise ValueError("training set of {} samples gives no batch of {} per process".format(
                len(train_set), config.batch_size))
        self.optimizer = build_optimizer(self.net, config.lr, config.encoder_lr, config.weight_decay,
                                         config.encoder_weight_decay, config.betas)
        self.total_steps = config.epochs * len(self.loader)
        self.scheduler = build_scheduler(self.optimizer, self.total_steps, config.min_lr)
        self.scaler = _grad_scaler(self.use_amp)
        self.criterion = build_loss(config.loss, info.num_classes, config.focal_gamma, config.boundary_bins,
                                    config.boundary_weights)
        self.start_epoch = 0
        self.best_miou = -1.0
        self.best_metrics: Optional[Dict[str, Any]] = None
        self.history: List[Dict[str, Any]] = []
        if config.resume:
            self._load_resume(config.resume)
        self.epochs_done = self.start_epoch

    # ----------------------------------------------------------------------------------- set-up
    def _build_model(self) -> nn.Module:
        cfg = self.cfg
        overrides = {k: getattr(cfg, k) for k in ("blend", "upsample", "pyramid_levels")
                     if getattr(cfg, k) is not None}
        model = build_model(cfg.model, num_classes=self.info.num_classes, **overrides)
        if cfg.init_encoder and cfg.init_weights:
            raise ValueError("give init_encoder or init_weights, not both ({!r}, {!r})".format(
                cfg.init_encoder, cfg.init_weights))
        if cfg.init_encoder and not cfg.resume:
            from swiftnet_ros.model import load_encoder_weights

            load_encoder_weights(model, cfg.init_encoder)
            LOG.info("encoder initialised from ImageNet weights %s", cfg.init_encoder)
        elif cfg.init_weights and not cfg.resume:
            saved, meta = load_model(cfg.init_weights)
            if saved.config.to_dict() != model.config.to_dict():
                raise ValueError("init_weights {!r} holds model {} but this config builds {}".format(
                    cfg.init_weights, saved.config.to_dict(), model.config.to_dict()))
            model.load_state_dict(saved.float().state_dict())
            LOG.info("model initialised from %s (%s)", cfg.init_weights,
                     "mIoU {:.4f}".format(meta["miou"]) if "miou" in meta else "no recorded mIoU")
        elif not cfg.resume:  # a resumed run's weights come from its last.pt
            LOG.warning("training from scratch: no --init-encoder weights given, the encoder starts random "
                        "(ImageNet initialisation is worth about 7 mIoU on Cityscapes)")
        return model.to(self.device)

    def _open_out_dir(self) -> None:
        """After the start-up checks: out_dir, train.log (with the set-up's log lines), config.yaml,
        best.pt of a run resumed into another folder, TensorBoard."""
        os.makedirs(self.out_dir, exist_ok=True)
        self.log_handler = logging.FileHandler(os.path.join(self.out_dir, "train.log"))
        self.log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self._startup_log.setTarget(self.log_handler)
        self._startup_log.close()  # flushes the set-up's lines into train.log
        LOG.addHandler(self.log_handler)
        save_config(self.cfg, os.path.join(self.out_dir, "config.yaml"))
        self._carry_best_over()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(os.path.join(self.out_dir, "tb"), purge_step=self._step(self.start_epoch))

    def _carry_best_over(self) -> None:
        """A run resumed into another out_dir copies the old run's best.pt, so that the folder is
        complete and the best.pt the log names exists even if no later epoch beats it."""
        if not self.cfg.resume or self.best_metrics is None:
            return
        old = os.path.join(os.path.dirname(os.path.abspath(self.cfg.resume)), "best.pt")
        new = os.path.join(self.out_dir, "best.pt")
        if os.path.abspath(old) == os.path.abspath(new):
            return
        if os.path.isfile(old):
            shutil.copy2(old, new)
            LOG.info("copied the resumed run's best.pt (epoch %d) from %s", self.best_metrics["epoch"], old)
        else:
            LOG.warning("the resumed run's best.pt (epoch %d) is not at %s; best.pt here will hold the best "
                        "of the epochs still to come", self.best_metrics["epoch"], old)
            self.best_miou, self.best_metrics = -1.0, None

    def close(self) -> None:
        """Flush and detach the TensorBoard writer and the log file (finish() calls this)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.log_handler is not None:
            LOG.removeHandler(self.log_handler)
            self.log_handler.close()
            self.log_handler = None

    def _step(self, epoch: int) -> int:
        return epoch * len(self.loader)

    # ------------------------------------------------------------------------------ the loop
    def fit(self) -> Dict[str, Any]:
        """Train from start_epoch to the configured number of epochs; returns the best metrics."""
        cfg = self.cfg
        LOG.info("training %s on %s: %d train / %d val samples, %d epochs x %d steps, %d process(es), %s%s",
                 self.model.config.name, cfg.dataset, len(self.train_set), len(self.val_set), cfg.epochs,
                 len(self.loader), self.dist.world_size, self.device, ", AMP" if self.use_amp else "")
        try:
            for epoch in range(self.start_epoch, cfg.epochs):
                self.run_epoch(epoch)
        except KeyboardInterrupt:
            # an epoch interrupted before its last.pt was saved will run again on resume: leave it out
            self.history = [h for h in self.history if h["epoch"] <= self.epochs_done]
            self._wrap_up(self._interrupted_line())
            raise
        except Exception as exc:
            message = "training failed in epoch {}: {}".format(self.epochs_done + 1, loader_error(exc))
            if self.log_handler is not None:  # the command prints the line; train.log keeps it too
                self.log_handler.handle(LOG.makeRecord(LOG.name, logging.ERROR, __file__, 0, message, (),
                                                       None))
            with contextlib.suppress(Exception):  # best effort: the failure itself is what to report
                self._wrap_up(None)
            raise TrainingError(message) from exc
        self.finish()
        return self.best_metrics or {}

    def _interrupted_line(self) -> str:
        """What an interrupted run tells: the epochs it kept and the command that continues it."""
        last = os.path.join(self.out_dir, "last.pt")
        if not os.path.isfile(last) and self.cfg.resume:
            last = self.cfg.resume  # resumed into a new folder and no epoch completed there yet
        if self.epochs_done == 0 or not os.path.isfile(last):
            return "interrupted in epoch {}, before any epoch completed; nothing to resume from".format(
                self.epochs_done + 1)
        return "interrupted after epoch {}; resume with: swiftnet-ros train --resume {}".format(
            self.epochs_done, last)

    def _wrap_up(self, line: Optional[str]) -> None:
        """After an interruption or a failure: history.json and the chart for the epochs that ran, then
        ``line`` as train.log's last line. No barrier: the other processes may be gone."""
        try:
            if self.dist.is_main:
                self._write_results()
            if line:
                LOG.warning("%s", line)
        finally:
            self.close()

    def run_epoch(self, epoch: int) -> None:
        """Train one epoch, evaluate when due, save last.pt (and best.pt on a new best mIoU)."""
        start = time.time()
        loss = self.train_epoch(epoch)
        entry: Dict[str, Any] = {"epoch": epoch + 1, "loss": loss, "lr": self.optimizer.param_groups[0]["lr"],
                                 "seconds": round(time.time() - start, 2)}
        last = epoch + 1 == self.cfg.epochs
        every = self.cfg.eval_every
        if last or (every > 0 and (epoch + 1) % every == 0):
            metrics = self.validate(epoch)
            if metrics is not None:
                entry.update(miou=metrics["miou"], pixel_accuracy=metrics["pixel_accuracy"])
        if self.dist.is_main:
            self.history.append(entry)
            miou = ", mIoU {:.4f}".format(entry["miou"]) if "miou" in entry else ""
            LOG.info("epoch %d/%d: loss %.4f, lr %.2e%s (%.0f s)", epoch + 1, self.cfg.epochs, loss,
                     entry["lr"], miou, entry["seconds"])
            self._save_last(epoch)
        self.epochs_done = epoch + 1  # the epochs that last.pt holds
        self._barrier()

    def train_epoch(self, epoch: int) -> float:
        """One pass over this process's shard; returns the mean loss over all processes."""
        seed_everything(self.cfg.seed + 1000003 * epoch + 7919 * self.dist.rank)
        self.sampler.set_epoch(epoch)
        if hasattr(self.train_set, "set_epoch"):  # datasets that seed their augmentation per (epoch, index)
            self.train_set.set_epoch(epoch)
        self.net.train()
        total = torch.zeros(2, dtype=torch.float64)
        bar = tqdm(self.loader, desc="epoch {}/{}".format(epoch + 1, self.cfg.epochs),
                   disable=not self.progress, leave=False, dynamic_ncols=True)
        for i, (images, labels) in enumerate(bar):
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
                logits = self.net(images)
            loss = self.criterion(logits.float(), labels)
            if not torch.isfinite(loss):
                raise FloatingPointError("loss became {} at epoch {} step {}; lower the lr".format(
                    loss.item(), epoch + 1, i))
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            total += torch.tensor([loss.item(), 1.0], dtype=torch.float64)
            step = self._step(epoch) + i + 1
            if self.writer is not None:
                self.writer.add_scalar("train/loss", loss.item(), step)
                self.writer.add_scalar("train/lr", self.optimizer.param_groups[0]["lr"], step)
                self.writer.add_scalar("train/encoder_lr", self.optimizer.param_groups[1]["lr"], step)
            bar.set_postfix(loss="{:.3f}".format(loss.item()),
                            lr="{:.1e}".format(self.optimizer.param_groups[0]["lr"]))
        if self.dist.distributed:
            dist.all_reduce(total)
        return float(total[0] / max(total[1], 1.0))

    def validate(self, epoch: int) -> Optional[Dict[str, Any]]:
        """Rank 0 evaluates the whole validation set (the others wait); keeps best.pt up to date."""
        if not self.dist.is_main:
            return None
        metrics = evaluate(self.model, self.val_set, self.info.class_names, self.device,
                           batch_size=self.cfg.eval_batch_size, workers=min(self.cfg.workers, 2),
                           progress=self.progress)
        step = self._step(epoch + 1)
        if self.writer is not None:
            self.writer.add_scalar("val/miou", metrics["miou"], step)
            self.writer.add_scalar("val/pixel_accuracy", metrics["pixel_accuracy"], step)
        if metrics["miou"] > self.best_miou:
            self.best_miou = metrics["miou"]
            self.best_metrics = dict(metrics, epoch=epoch + 1)
            self._save_best(epoch)
        return metrics

    def finish(self) -> None:
        """After the last epoch: per-class IoU chart of the best evaluation, history.json, close logs."""
        if self.dist.is_main:
            self._write_results()
            if self.best_metrics is not None:
                LOG.info("best mIoU %.4f at epoch %d -> %s", self.best_metrics["miou"],
                         self.best_metrics["epoch"], os.path.join(self.out_dir, "best.pt"))
        self.close()
        self._barrier()

    def _write_results(self) -> None:
        """history.json of the epochs that ran and the per-class IoU chart of the best evaluation."""
        if self.best_metrics is not None:
            plot_per_class_iou(self.best_metrics["per_class_iou"], self.info.palette,
                               os.path.join(self.out_dir, "per_class_iou.png"),
                               title="{} epoch {}: mIoU {:.1%}".format(self.model.config.name,
                                                                      self.best_metrics["epoch"],
                                                                      self.best_metrics["miou"]))
        with open(os.path.join(self.out_dir, "history.json"), "w") as f:
            json.dump({"history": self.history, "best": _jsonable(self.best_metrics)}, f, indent=1)

    # ------------------------------------------------------------------------------ checkpoints
    def _save_best(self, epoch: int) -> None:
        model = self.model
        if self.cfg.save_fp16:
            model = copy.deepcopy(self.model).half()
        extra = {"epoch": epoch + 1, "miou": self.best_miou,
                 "pixel_accuracy": self.best_metrics["pixel_accuracy"], "train_config": self.cfg.run_dict(),
                 "weights_dtype": "float16" if self.cfg.save_fp16 else "float32"}
        save_checkpoint(os.path.join(self.out_dir, "best.pt"), model, self.info.class_names,
                               self.info.palette, extra)

    def _save_last(self, epoch: int) -> None:
        state = {
            "epoch": epoch + 1,  # epochs completed
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "best_miou": self.best_miou,
            "best_metrics": _jsonable(self.best_metrics),
            "history": self.history,
            "rng_seed": self.cfg.seed,
            "train_config": self.cfg.run_dict(),
        }
        save_checkpoint(os.path.join(self.out_dir, "last.pt"), self.model, self.info.class_names,
                               self.info.palette, {"train_state": state})

    def _load_resume(self, path: str) -> None:
        if not os.path.isfile(path):
            raise FileNotFoundError("resume checkpoint {!r} does not exist".format(path))
        saved, meta = load_model(path)
        state = meta.get("train_state")
        if state is None:
            raise ValueError("{!r} has no training state (optimiser, epoch); resume needs a last.pt".format(
                path))
        if saved.config.to_dict() != self.model.config.to_dict():
            raise ValueError("resume checkpoint {!r} holds model {} but this config builds {}".format(
                path, saved.config.to_dict(), self.model.config.to_dict()))
        if state["rng_seed"] != self.cfg.seed:
            LOG.warning("resuming with seed %d; %r was trained with seed %d", self.cfg.seed, path,
                        state["rng_seed"])
        done = int(state["epoch"])
        if done >= self.cfg.epochs:
            raise ConfigError("epochs={} but resume checkpoint {!r} has completed {} epochs; expected epochs "
                              "> {} to train on".format(self.cfg.epochs, path, done, done))
        self.model.load_state_dict(saved.state_dict())
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.start_epoch = done
        self.best_miou = float(state["best_miou"])
        self.best_metrics = state["best_metrics"]
        self.history = list(state["history"])
        LOG.info("resumed from %s after epoch %d (best mIoU %.4f)", path, self.start_epoch, self.best_miou)
        self._replan_schedule(state.get("train_config") or {})

    def _replan_schedule(self, stored: Dict[str, Any]) -> None:
        """The restored schedule, re-planned when this run's plan differs from the checkpoint's (more or
        fewer epochs, another batch size, min_lr or lr): the cosine of this run's epochs, at this epoch,
        so that the lr reaches min_lr at the last epoch."""
        cfg, sched = self.cfg, self.scheduler
        step = self._step(self.start_epoch)
        base_lrs = [cfg.lr, cfg.encoder_lr]
        if (sched.T_max, sched.eta_min, list(sched.base_lrs), sched.last_epoch) == (
                self.total_steps, cfg.min_lr, base_lrs, step):
            return
        before = self.optimizer.param_groups[0]["lr"]
        replan_cosine(sched, self.total_steps, step, cfg.min_lr, base_lrs)
        LOG.info("schedule re-planned: cosine over %d epochs x %d steps (the checkpoint's plan: %s epochs), "
                 "lr %.2e (was %.2e) at the start of epoch %d, %.2e at the end of epoch %d", cfg.epochs,
                 len(self.loader), stored.get("epochs", "?"), self.optimizer.param_groups[0]["lr"], before,
                 self.start_epoch + 1, cfg.min_lr, cfg.epochs)

    def _barrier(self) -> None:
        if self.dist.distributed:
            dist.barrier()


def _grad_scaler(enabled: bool) -> Any:
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


def _jsonable(value: Any) -> Any:
    """Metrics without NaN (JSON has none) and without numpy scalars."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
