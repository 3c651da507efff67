"""Training configuration: one dataclass, loaded from YAML, overridden by command-line flags.

The defaults are the paper's Cityscapes recipe (Adam 0.9/0.99, lr 4e-4 new / 1e-4 encoder, weight
decay 1e-4 / 2.5e-5, cosine to 1e-6 over 250 epochs, batch 14, 768x768 crops, scale U(0.5, 2), flip,
cross-entropy with void ignored).
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import yaml

from swiftnet_ros.data.datasets import DATASETS
from swiftnet_ros.fields import ConfigError, check, check_mapping, fail, option
from swiftnet_ros.model.config import BLENDS, UPSAMPLE_MODES
from swiftnet_ros.sizes import parse_size

LOSSES = ("ce", "boundary")
DEVICES = ("auto", "cpu", "cuda")

__all__ = ["DATASETS", "DEVICES", "LOSSES", "TrainConfig", "config_keys", "load_config", "save_config"]


@dataclass
class TrainConfig:
    """Everything one training run needs. Keys of a YAML config are exactly these field names."""

    # model: a preset of swiftnet_ros.model plus the options that pass through to build_model
    model: str = option("rn18", "model preset (swiftnet_ros.model.PRESETS) or a config/models/*.yaml file")
    blend: Optional[str] = option(None, "blend variant (None: the preset's)", BLENDS)
    upsample: Optional[str] = option(None, "upsampling mode (None: the preset's)", UPSAMPLE_MODES)
    pyramid_levels: Optional[int] = option(None, "pyramid levels (None: the preset's)")
    init_encoder: Optional[str] = option(None, "torchvision ImageNet weights (.pth); None = from scratch")
    init_weights: Optional[str] = option(None, "a checkpoint's weights to start from (fine-tuning; fresh "
                                         "optimiser)")
    # data
    dataset: str = option("cityscapes", "dataset kind", DATASETS)
    root: Optional[str] = option(None, "dataset folder")
    train_split: str = "train"
    val_split: str = "val"
    size: Optional[List[int]] = option(None, "synthetic scenes: [height, width] or \"WIDTHxHEIGHT\"; None = "
                                       "the generator's default")
    train_seed: int = option(0, "synthetic training scenes: seeds train_seed .. train_seed + train_num - 1")
    train_num: int = option(2000, "synthetic training scenes", low=1)
    val_seed: int = option(1000000, "synthetic validation scenes: val_seed .. val_seed + val_num - 1")
    val_num: int = option(50, "synthetic validation scenes", low=1)
    crop_size: int = option(768, "square random crops; 0 = no crop (whole scaled images; each batch is "
                            "padded to its largest, labels with void)", low=0)
    scale_min: float = 0.5
    scale_max: float = 2.0
    flip: bool = True
    jitter: bool = option(False, "photometric jitter")
    cache: bool = option(False, "keep rendered / decoded samples in memory (needs workers: 0)")
    # optimisation
    epochs: int = option(250, "training epochs", low=1)
    batch_size: int = option(14, "per process (per GPU under torchrun)", low=1)
    lr: float = option(4e-4, "learning rate of the randomly initialised (decoder) parameters")
    encoder_lr: float = 1e-4
    weight_decay: float = 1e-4
    encoder_weight_decay: float = 2.5e-5
    betas: List[float] = option(description="Adam betas", default_factory=lambda: [0.9, 0.99])
    min_lr: float = 1e-6
    loss: str = option("ce", "ce, or boundary: the boundary-aware focal loss of the reference pyramid "
                       "config", LOSSES)
    focal_gamma: float = 0.5
    boundary_bins: List[float] = option(default_factory=lambda: [16, 64, 128])
    boundary_weights: List[float] = option(default_factory=lambda: [8, 4, 2, 1])
    # loop
    eval_every: int = option(1, "epochs; 0 = only after the last epoch", low=0)
    eval_batch_size: int = option(1, "validation batch size", low=1)
    amp: bool = option(True, "mixed precision; used on CUDA only")
    sync_bn: bool = option(False, "SyncBatchNorm under torchrun; CUDA only")
    workers: int = option(4, "data loader processes", low=0)
    threads: Optional[int] = option(None, "torch CPU threads; None = torch's default (1 is fastest on a busy "
                                    "CPU)", low=1)
    seed: int = 0
    device: str = option("auto", "training device", DEVICES)
    out_dir: str = "runs/train"
    resume: Optional[str] = option(None, "a last.pt written by an earlier run (never saved into config.yaml)")
    save_fp16: bool = option(False, "store the exported best/final weights in half precision (smaller files)")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Coerce YAML / CLI values to the declared types ("4e-4" -> 0.0004, tuples -> lists) and reject
        bad values early with a message that names the value and what was expected."""
        self._size_from_text()
        check(self)  # types, choices, ranges
        for name in ("lr", "encoder_lr", "min_lr"):
            if not getattr(self, name) > 0:
                fail(name, getattr(self, name), "a number > 0")
        if self.cache and self.workers:
            fail("workers", self.workers, "workers 0 with cache (samples live in this process's memory)")
        if not 0 < self.scale_min <= self.scale_max:
            raise ConfigError("scale_min={!r}, scale_max={!r}; expected 0 < scale_min <= scale_max".format(
                self.scale_min, self.scale_max))
        if len(self.betas) != 2:
            fail("betas", self.betas, "two numbers")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            fail("size", self.size, "[height, width] with positive numbers")
        if len(self.boundary_weights) != len(self.boundary_bins) + 1:
            fail("boundary_weights", self.boundary_weights, "one more entry than boundary_bins {}".format(
                self.boundary_bins))
        if self.boundary_bins != sorted(self.boundary_bins):
            fail("boundary_bins", self.boundary_bins, "increasing numbers")
        if self.dataset != "synthetic" and not self.root:
            fail("root", self.root, "the dataset folder (dataset {!r} needs one)".format(self.dataset))
        if self.dataset == "synthetic":
            train = range(self.train_seed, self.train_seed + self.train_num)
            val = range(self.val_seed, self.val_seed + self.val_num)
            if train.start < val.stop and val.start < train.stop:
                raise ConfigError("synthetic training seeds {}..{} overlap validation seeds {}..{}; expected "
                                  "disjoint ranges".format(train.start, train.stop - 1, val.start,
                                                           val.stop - 1))

    def _size_from_text(self) -> None:
        """size may be written as on the command line ("512x256"); anything but a pair is refused here,
        where the message can say which forms are meant."""
        expected = "WIDTHxHEIGHT such as 512x256, or [height, width]"
        if isinstance(self.size, str):
            try:
                self.size = list(parse_size(self.size))
            except ValueError:
                fail("size", self.size, expected)
        elif self.size is not None and not (isinstance(self.size, (list, tuple)) and len(self.size) == 2):
            fail("size", self.size, expected)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def run_dict(self) -> Dict[str, Any]:
        """The values that reproduce this run from its start: everything but resume (a saved config that
        named a last.pt would silently continue the old run instead)."""
        values = self.to_dict()
        del values["resume"]
        return values

    @classmethod
    def from_dict(cls, values: Dict[str, Any], source: str = "training config") -> "TrainConfig":
        """Build from a mapping; an unknown key is an error that lists the valid ones."""
        return cls(**check_mapping(values, cls, source, "key"))

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (None values are ignored, so unset CLI flags keep YAML values)."""
        values = self.to_dict()
        values.update({k: v for k, v in changes.items() if v is not None})
        return TrainConfig.from_dict(values)


def config_keys() -> List[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


def load_config(path: Optional[str] = None, base: Optional[Dict[str, Any]] = None,
                **overrides: Any) -> TrainConfig:
    """Read a YAML file (if given; else start from ``base``, e.g. a checkpoint's stored config), then
    apply overrides whose value is not None."""
    values: Dict[str, Any] = dict(base or {})
    source = "training config"
    if path is not None:
        source = "training config {!r}".format(path)
        values.update(check_mapping(_read_yaml(path, source) or {}, TrainConfig, source, "key"))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(values, source)


def _read_yaml(path: str, source: str) -> Any:
    """The parsed file, or one line naming the file and, for a syntax error, where it is."""
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise FileNotFoundError("{} does not exist".format(source)) from None
    except IsADirectoryError:
        raise ConfigError("{} is a folder; expected a YAML file".format(source)) from None
    except UnicodeDecodeError:
        raise ConfigError("{} is not a text file; expected YAML".format(source)) from None
    except yaml.YAMLError as exc:
        raise ConfigError("{} is not valid YAML{}; expected key: value lines".format(
            source, _yaml_problem(exc))) from None


def _yaml_problem(exc: Exception) -> str:
    """" at line L, column C: <problem> (<context> at line L, column C)" from a PyYAML error."""
    def at(mark: Any) -> str:
        return " at line {}, column {}".format(mark.line + 1, mark.column + 1) if mark else ""

    problem = getattr(exc, "problem", None)
    if not problem:
        return ": " + " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    text = "{}: {}".format(at(getattr(exc, "problem_mark", None)), problem)
    if context:
        text += " ({}{})".format(context, at(getattr(exc, "context_mark", None)))
    return text


def save_config(config: TrainConfig, path: str) -> None:
    """config.yaml of a run: what `train --config` needs to run it again from the start (no resume)."""
    with open(path, "w") as f:
        yaml.safe_dump(config.run_dict(), f, sort_keys=False)
