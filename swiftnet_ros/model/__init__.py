"""The SwiftNet model family: encoders, decoder blocks, presets, checkpoints (no ROS imports)."""

from .checkpoints import load_encoder_weights, load_model, save_checkpoint
from .config import PRESETS, ModelConfig, get_config
from .swiftnet import SwiftNet, build_model

__all__ = ["PRESETS", "ModelConfig", "SwiftNet", "build_model", "get_config", "load_encoder_weights",
           "load_model", "save_checkpoint"]
