"""Training configuration: one dataclass, loaded from YAML, overridden by command-line flags.

The defaults are the paper's Cityscapes recipe (Adam 0.9/0.99, lr 4e-4 new / 1e-4 encoder, weight
decay 1e-4 / 2.5e-5, cosine to 1e-6 over 250 epochs, batch 14, 768x768 crops, scale U(0.5, 2), flip,
cross-entropy with void ignored).
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import yaml

DATASETS = ("cityscapes", "camvid", "folder", "synthetic")
LOSSES = ("ce", "boundary")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """Everything one training run needs. Keys of a YAML config are exactly these field names."""

    # model: a preset of swiftnet_ros.model plus the options that pass through to build_model
    model: str = "rn18"
    blend: Optional[str] = None
    upsample: Optional[str] = None
    pyramid_levels: Optional[int] = None
    init_encoder: Optional[str] = None  # torchvision ImageNet weights file (.pth); None = from scratch
    init_weights: Optional[str] = None  # a checkpoint's weights to start from (fine-tuning; fresh optimiser)
    # data
    dataset: str = "cityscapes"
    root: Optional[str] = None
    train_split: str = "train"
    val_split: str = "val"
    size: Optional[List[int]] = None  # synthetic scenes: [height, width]; None = the generator's default
    train_seed: int = 0  # synthetic training scenes use seeds train_seed .. train_seed + train_num - 1
    train_num: int = 2000
    val_seed: int = 1000000  # synthetic validation scenes: val_seed .. val_seed + val_num - 1
    val_num: int = 50
    crop_size: int = 768  # square random crops; 0 = no crop (whole scaled images, equal sizes needed)
    scale_min: float = 0.5
    scale_max: float = 2.0
    flip: bool = True
    jitter: bool = False  # photometric jitter
    cache: bool = False  # keep rendered / decoded samples in memory (needs workers: 0)
    # optimisation
    epochs: int = 250
    batch_size: int = 14  # per process (per GPU under torchrun)
    lr: float = 4e-4  # randomly initialised (decoder) parameters
    encoder_lr: float = 1e-4
    weight_decay: float = 1e-4
    encoder_weight_decay: float = 2.5e-5
    betas: List[float] = field(default_factory=lambda: [0.9, 0.99])
    min_lr: float = 1e-6
    loss: str = "ce"  # "ce" | "boundary" (boundary-aware focal loss of the reference pyramid config)
    focal_gamma: float = 0.5
    boundary_bins: List[float] = field(default_factory=lambda: [16, 64, 128])
    boundary_weights: List[float] = field(default_factory=lambda: [8, 4, 2, 1])
    # loop
    eval_every: int = 1  # epochs; 0 = only after the last epoch
    eval_batch_size: int = 1
    amp: bool = True  # mixed precision; used on CUDA only
    sync_bn: bool = False  # SyncBatchNorm under torchrun; CUDA only
    workers: int = 4
    threads: Optional[int] = None  # torch CPU threads; None = torch's default (1 is fastest on a busy CPU)
    seed: int = 0
    device: str = "auto"
    out_dir: str = "runs/train"
    resume: Optional[str] = None  # a last.pt written by an earlier run
    save_fp16: bool = False  # store the exported best/final weights in half precision (smaller files)

    def __post_init__(self) -> None:
        self._coerce()
        self.validate()

    def _coerce(self) -> None:
        """YAML reads 4e-4 as a string and CLI lists arrive as tuples: convert to the declared types."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            try:
                if kind in ("float", "int"):
                    if isinstance(value, bool) or (kind == "int" and float(value) != int(float(value))):
                        raise ValueError
                    value = float(value) if kind == "float" else int(float(value))
                elif kind == "bool" and not isinstance(value, bool):
                    raise ValueError
                elif "List[float]" in str(f.type):
                    value = [float(v) for v in value]
                elif "List[int]" in str(f.type):
                    value = [int(v) for v in value]
            except (TypeError, ValueError):
                raise ValueError("{} must be {}, got {!r}".format(f.name, kind, value)) from None
            setattr(self, f.name, value)

    def validate(self) -> None:
        """Reject bad values early with a message that names the value and what was expected."""
        _choice("dataset", self.dataset, DATASETS)
        _choice("loss", self.loss, LOSSES)
        _choice("device", self.device, DEVICES)
        for name in ("epochs", "batch_size", "eval_batch_size", "train_num", "val_num"):
            if int(getattr(self, name)) < 1:
                raise ValueError("{} must be >= 1, got {!r}".format(name, getattr(self, name)))
        if self.cache and self.workers:
            raise ValueError("cache (samples in this process's memory) needs workers 0, got {}".format(
                self.workers))
        if self.threads is not None and int(self.threads) < 1:
            raise ValueError("threads must be >= 1 (or unset), got {!r}".format(self.threads))
        for name in ("crop_size", "workers", "eval_every"):
            if int(getattr(self, name)) < 0:
                raise ValueError("{} must be >= 0, got {!r}".format(name, getattr(self, name)))
        for name in ("lr", "encoder_lr", "min_lr"):
            if not float(getattr(self, name)) > 0:
                raise ValueError("{} must be > 0, got {!r}".format(name, getattr(self, name)))
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError("expected 0 < scale_min <= scale_max, got {} and {}".format(self.scale_min,
                                                                                       self.scale_max))
        if len(self.betas) != 2:
            raise ValueError("betas must be two numbers, got {!r}".format(self.betas))
        if self.size is not None and (len(self.size) != 2 or min(int(s) for s in self.size) < 1):
            raise ValueError("size must be [height, width] with positive numbers, got {!r}".format(self.size))
        if len(self.boundary_weights) != len(self.boundary_bins) + 1:
            raise ValueError("boundary_weights needs one more entry than boundary_bins, got {} and {}".format(
                list(self.boundary_weights), list(self.boundary_bins)))
        if list(self.boundary_bins) != sorted(self.boundary_bins):
            raise ValueError("boundary_bins must be increasing, got {!r}".format(list(self.boundary_bins)))
        if self.dataset != "synthetic" and not self.root:
            raise ValueError("dataset {!r} needs root (the dataset folder)".format(self.dataset))
        if self.dataset == "synthetic":
            train = range(self.train_seed, self.train_seed + self.train_num)
            val = range(self.val_seed, self.val_seed + self.val_num)
            if train.start < val.stop and val.start < train.stop:
                raise ValueError("synthetic training seeds {}..{} overlap validation seeds {}..{}".format(
                    train.start, train.stop - 1, val.start, val.stop - 1))

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "TrainConfig":
        """Build from a mapping; an unknown key is an error that lists the valid ones."""
        if not isinstance(values, dict):
            raise ValueError("a training config must be a mapping of keys to values, got {}".format(
                type(values).__name__))
        valid = config_keys()
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError("unknown training config key(s) {}; valid keys are: {}".format(
                ", ".join(unknown), ", ".join(valid)))
        return cls(**values)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (None values are ignored, so unset CLI flags keep YAML values)."""
        values = self.to_dict()
        values.update({k: v for k, v in changes.items() if v is not None})
        return TrainConfig.from_dict(values)


def config_keys() -> List[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


def _choice(name: str, value: str, choices: tuple) -> None:
    if value not in choices:
        raise ValueError("{} must be one of {}, got {!r}".format(name, ", ".join(choices), value))


def load_config(path: Optional[str] = None, **overrides: Any) -> TrainConfig:
    """Read a YAML file (if given), then apply overrides whose value is not None."""
    values: Dict[str, Any] = {}
    if path is not None:
        try:
            with open(path) as f:
                loaded = yaml.safe_load(f)
        except FileNotFoundError:
            raise FileNotFoundError("training config {!r} does not exist".format(path)) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError("training config {!r} must be a YAML mapping, got {}".format(
                path, type(loaded).__name__))
        values.update(loaded or {})
        unknown = sorted(set(values) - set(config_keys()))
        if unknown:
            raise ValueError("training config {!r} has unknown key(s) {}; valid keys are: {}".format(
                path, ", ".join(map(str, unknown)), ", ".join(config_keys())))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(values)


def save_config(config: TrainConfig, path: str) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(config.to_dict(), f, sort_keys=False)
