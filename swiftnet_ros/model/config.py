"""ModelConfig: everything needed to rebuild a SwiftNet, stored in every checkpoint.

PRESETS is the single source of truth for the named models; config/models/*.yaml mirror it
(a test keeps them equal).
"""

import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Dict, List, Optional

ENCODERS = ("resnet18", "mobilenet_v2")
BLENDS = ("3x3", "grouped", "separable", "1x1", "inverted_residual")
UPSAMPLE_MODES = ("bilinear", "nearest")
PRECISIONS = ("fp32", "fp16")

# Normalisation of the reference code's Cityscapes models (RGB, 0-255 input).
CITYSCAPES_MEAN = [73.15, 82.90, 72.3]
CITYSCAPES_STD = [47.67, 48.49, 47.73]


@dataclass
class ModelConfig:
    """Architecture of one SwiftNet model.

    pyramid_levels: 0 = single scale with SPP; >= 2 = interleaved pyramid fusion over that many
    image scales (1, 1/2, 1/4, ...), no SPP.
    logits_kernel: 1 = 1x1 logits conv with bias (reference code, current); 3 = 3x3 without bias
    (the reference's first release and the paper's parameter counts).
    precision / input_size: deployment hints (e.g. the Jetson preset runs in fp16 at 1024x512,
    input_size = [width, height]); the model itself ignores them.
    """

    name: str = "rn18"
    encoder: str = "resnet18"
    pyramid_levels: int = 0
    blend: str = "3x3"
    upsample: str = "bilinear"
    num_classes: int = 19
    num_features: int = 128
    logits_kernel: int = 1
    mean: List[float] = field(default_factory=lambda: list(CITYSCAPES_MEAN))
    std: List[float] = field(default_factory=lambda: list(CITYSCAPES_STD))
    precision: str = "fp32"
    input_size: Optional[List[int]] = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        _check_choice("encoder", self.encoder, ENCODERS)
        _check_choice("blend", self.blend, BLENDS)
        _check_choice("upsample", self.upsample, UPSAMPLE_MODES)
        _check_choice("precision", self.precision, PRECISIONS)
        if not isinstance(self.pyramid_levels, int) or not (self.pyramid_levels == 0
                                                           or 2 <= self.pyramid_levels <= 4):
            raise ValueError("pyramid_levels={!r}: expected 0 (single scale) or 2..4".format(
                self.pyramid_levels))
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError("num_classes={!r}: expected a positive integer".format(self.num_classes))
        if not isinstance(self.num_features, int) or self.num_features < 8 or self.num_features % 8:
            raise ValueError("num_features={!r}: expected a multiple of 8".format(self.num_features))
        if self.logits_kernel not in (1, 3):
            raise ValueError("logits_kernel={!r}: expected 1 or 3".format(self.logits_kernel))
        for key in ("mean", "std"):
            value = getattr(self, key)
            if len(value) != 3 or any(not isinstance(v, (int, float)) for v in value):
                raise ValueError("{}={!r}: expected 3 numbers (R, G, B on a 0-255 scale)".format(key, value))
            setattr(self, key, [float(v) for v in value])
        if min(self.std) <= 0:
            raise ValueError("std={!r}: expected positive values".format(self.std))
        if self.input_size is not None:
            if len(self.input_size) != 2 or min(self.input_size) < 1:
                raise ValueError("input_size={!r}: expected [width, height]".format(self.input_size))
            self.input_size = [int(v) for v in self.input_size]

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ModelConfig":
        if not isinstance(data, dict):
            raise ValueError("model config {!r}: expected a mapping of ModelConfig fields".format(data))
        _check_fields(data)
        return cls(**data)


def _check_choice(key: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError("{}={!r}: expected one of {}".format(key, value, ", ".join(choices)))


def _check_fields(data: Dict[str, Any]) -> None:
    names = [f.name for f in fields(ModelConfig)]
    unknown = sorted(k for k in data if k not in names)
    if unknown:
        raise ValueError("unknown model config field(s) {}: expected some of {}".format(
            ", ".join(unknown), ", ".join(names)))


PRESETS = {
    "rn18": ModelConfig(name="rn18", encoder="resnet18"),
    "rn18-pyramid": ModelConfig(name="rn18-pyramid", encoder="resnet18", pyramid_levels=2),
    "mnv2": ModelConfig(name="mnv2", encoder="mobilenet_v2"),
    "mnv2-pyramid": ModelConfig(name="mnv2-pyramid", encoder="mobilenet_v2", pyramid_levels=2),
    # TX2: bilinear resizing exhausted it, so the paper trained with nearest; fp16 at 1024x512.
    "jetson-tx2": ModelConfig(name="jetson-tx2", encoder="resnet18", upsample="nearest",
                              precision="fp16", input_size=[1024, 512]),
}


def get_config(preset_or_config: Any, **overrides: Any) -> ModelConfig:
    """A ModelConfig from a preset name, a YAML path, a dict or a ModelConfig, plus field overrides."""
    if isinstance(preset_or_config, ModelConfig):
        config = replace(preset_or_config)
    elif isinstance(preset_or_config, dict):
        config = ModelConfig.from_dict(preset_or_config)
    elif isinstance(preset_or_config, str) and preset_or_config in PRESETS:
        config = replace(PRESETS[preset_or_config])
    elif isinstance(preset_or_config, str) and preset_or_config.endswith((".yaml", ".yml")):
        config = load_config_yaml(preset_or_config)
    else:
        raise ValueError("model {!r}: expected a preset name ({}), a .yaml file, a dict or a ModelConfig"
                         .format(preset_or_config, ", ".join(PRESETS)))
    if overrides:
        _check_fields(overrides)
        data = config.to_dict()
        data.update(overrides)
        config = ModelConfig(**data)
    return config


def load_config_yaml(path: str) -> ModelConfig:
    """Read a ModelConfig from YAML (the files in config/models/)."""
    if not os.path.isfile(path):
        raise FileNotFoundError("model config {}: no such file".format(path))
    import yaml  # only needed for this path; the Jetson run-time may lack it

    with open(path) as f:
        data = yaml.safe_load(f)
    return ModelConfig.from_dict(data)
