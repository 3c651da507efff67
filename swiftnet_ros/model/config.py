"""ModelConfig: everything needed to rebuild a SwiftNet, stored in every checkpoint.

PRESETS is the single source of truth for the named models; config/models/*.yaml mirror it
(a test keeps them equal).
"""

import os
from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, List, Optional

from swiftnet_ros.choices import FLOAT_PRECISIONS
from swiftnet_ros.fields import check, check_mapping, fail, option

ENCODERS = ("resnet18", "mobilenet_v2")
BLENDS = ("3x3", "grouped", "separable", "1x1", "inverted_residual")
UPSAMPLE_MODES = ("bilinear", "nearest")

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

    name: str = option("rn18", "preset or model name")
    encoder: str = option("resnet18", "ImageNet encoder", ENCODERS)
    pyramid_levels: int = option(0, "0: single scale with SPP; 2..4: pyramid levels")
    blend: str = option("3x3", "blend conv of the upsampling modules (supplement Table 1)", BLENDS)
    upsample: str = option("bilinear", "resize mode of the decoder and the logits", UPSAMPLE_MODES)
    num_classes: int = option(19, "output classes", low=1)
    num_features: int = option(128, "decoder channels (a multiple of 8)", low=8)
    logits_kernel: int = option(1, "1: 1x1 logits conv with bias; 3: 3x3 without", (1, 3))
    mean: List[float] = option(description="input mean, R, G, B on a 0-255 scale",
                               default_factory=lambda: list(CITYSCAPES_MEAN))
    std: List[float] = option(description="input std, R, G, B on a 0-255 scale",
                              default_factory=lambda: list(CITYSCAPES_STD))
    precision: str = option("fp32", "deployment hint: inference precision", FLOAT_PRECISIONS)
    input_size: Optional[List[int]] = option(None, "deployment hint: [width, height]")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError (ConfigError) naming the first bad field."""
        check(self)  # types, choices, ranges
        if self.pyramid_levels not in (0, 2, 3, 4):
            fail("pyramid_levels", self.pyramid_levels, "0 (single scale) or 2..4")
        if self.num_features % 8:
            fail("num_features", self.num_features, "a multiple of 8")
        for key in ("mean", "std"):
            if len(getattr(self, key)) != 3:
                fail(key, getattr(self, key), "3 numbers (R, G, B on a 0-255 scale)")
        if min(self.std) <= 0:
            fail("std", self.std, "positive values")
        if self.input_size is not None and (len(self.input_size) != 2 or min(self.input_size) < 1):
            fail("input_size", self.input_size, "[width, height]")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ModelConfig":
        return cls(**check_mapping(data, cls, "", "model config field"))


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
        check_mapping(overrides, ModelConfig, "", "model config field")
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
