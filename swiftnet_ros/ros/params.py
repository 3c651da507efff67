"""Every parameter of the segmentation node: default, description, allowed values, validation.

Pure Python (no rclpy, no torch), so the rules can be tested without ROS and reused by the launch
file's tests, and a bad parameter is one line before torch loads; node.py turns each field into a
declared ROS parameter with a descriptor. The standard params file is config/segment.yaml
(``segmentation_node: ros__parameters: ...``).
"""

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from swiftnet_ros import sizes
from swiftnet_ros.choices import BACKENDS, DEVICE_NAMES, PRECISIONS, is_device_name
from swiftnet_ros.data.labels import LABEL_SETS, check_palette, get_label_set
from swiftnet_ros.fields import PARAMETER, ConfigError, check, check_mapping, field_info, option
from swiftnet_ros.files import WEIGHTS_SUFFIXES

NODE_NAME = "segmentation_node"
# The params-file section name: matches the node in any namespace (a bare "segmentation_node" key
# would apply only to a node in the root namespace, and a namespaced launch would silently ignore it).
PARAMS_FILE_KEY = "/**/" + NODE_NAME
DEMO_WEIGHTS = "demo"
DEMO_CHECKPOINT = "swiftnet_demo.pt"
QOS_CHOICES = ("sensor_data", "reliable", "best_effort", "system_default")
BUILTIN_PALETTES = LABEL_SETS
MAX_SIDE = 16384


@dataclass
class NodeConfig:
    """The node's parameters; ``runtime`` ones may change while it runs, the others need a restart."""

    weights: str = option(DEMO_WEIGHTS, "checkpoint (.pt), .onnx or TensorRT .engine path, a model preset "
                          "name (random weights, for benchmarks), or 'demo' for the bundled demo checkpoint")
    backend: str = option("auto", "inference backend", BACKENDS)
    precision: str = option("fp32", "inference precision (fp16: a GPU; bf16: torch on a CPU with AVX512-BF16 "
                            "or AMX, or a GPU with bf16; int8: an int8 ONNX file)", PRECISIONS)
    device: str = option("auto", "'auto', 'cpu', 'cuda' or 'cuda:N'")
    input_size: str = option("", "model input size as WIDTHxHEIGHT (e.g. 1024x512); empty: each image's "
                             "own size")
    output_size: str = option("input", "published label size: the input image's or the model's",
                              ("input", "model"))
    publish_color: bool = option(True, "publish segmentation/color (rgb8 palette colours)", runtime=True)
    publish_overlay: bool = option(False, "publish segmentation/overlay (colours blended over the input)",
                                   runtime=True)
    overlay_alpha: float = option(0.5, "weight of the colours in the overlay", low=0.0, high=1.0,
                                  runtime=True)
    publish_confidence: bool = option(False, "publish segmentation/confidence (mono8, 255 x max softmax "
                                      "probability, computed on the model's device)", runtime=True)
    publish_compressed_labels: bool = option(False, "publish segmentation/labels/compressed (lossless mono8 "
                                             "PNG, 'mono8; png compressed')", runtime=True)
    palette: str = option("checkpoint", "colours: the checkpoint's, 'cityscapes', 'camvid', or a .yaml/.json "
                          "file holding a list of [r, g, b] (one per class)")
    input_transport: str = option("raw", "subscribe 'image' (raw) or 'image/compressed' (jpeg/png)",
                                  ("raw", "compressed"))
    input_qos: str = option("sensor_data", "QoS of the image subscription", QOS_CHOICES)
    output_qos: str = option("reliable", "QoS of the publishers", QOS_CHOICES)
    qos_depth: int = option(5, "history depth (keep last) of the subscription and the publishers",
                            low=1, high=1000)
    cpu_threads: int = option(0, "CPU threads of the model (PyTorch / ONNX Runtime); 0: the library's "
                              "default (every core). On a small CPU, leave a core to the executor, the "
                              "middleware and the camera", low=0, high=1024)
    warmup: int = option(1, "warm-up inferences at start-up", low=0, high=100)
    engine_cache_dir: str = option("", "TensorRT engine cache folder; empty: the backend's default")
    force_engine_rebuild: bool = option(False, "rebuild the TensorRT engine even if a cached one fits")
    diagnostics_period: float = option(1.0, "seconds between /diagnostics messages", low=0.1, high=60.0)
    error_log_period: float = option(5.0, "at most one log line per this many seconds for bad frames",
                                     low=0.0, high=3600.0, runtime=True)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Dict[str, Any], source: str = "parameters") -> "NodeConfig":
        """Build from a name -> value mapping; unknown names are an error that lists the valid ones."""
        return cls(**check_mapping(values, cls, source, "parameter"))

    def input_hw(self) -> Optional[Tuple[int, int]]:
        """input_size as the Segmenter's (height, width), or None for each image's own size."""
        return parse_size(self.input_size)


def parameter_names() -> List[str]:
    return [f.name for f in fields(NodeConfig)]


def parameter_info(name: str) -> Dict[str, Any]:
    """description, choices, low, high, runtime, default and type name of one parameter."""
    f, info = field_info(NodeConfig, name, "parameter")
    info["default"] = f.default
    info["type"] = type(f.default).__name__
    return info


def parse_size(text: str) -> Optional[Tuple[int, int]]:
    """'1024x512' (width x height) -> (512, 1024) as (height, width); '' -> None."""
    if text == "":
        return None
    try:
        return sizes.parse_size(text, max_side=MAX_SIDE)
    except ValueError:
        raise ConfigError("input_size {!r} is not WIDTHxHEIGHT with sides in 1..{} (e.g. 1024x512), nor "
                          "empty for each image's own size".format(text, MAX_SIDE)) from None


def validate(config: NodeConfig) -> NodeConfig:
    """Raise ConfigError naming the first bad value and what was expected."""
    if not isinstance(config.input_size, str):
        # ROS parses -p values as YAML: 0x0 is the hexadecimal integer 0, 1024 an integer
        raise ConfigError("parameter input_size = {!r} is of type {}; expected a WIDTHxHEIGHT string such as "
                          "1024x512, or '' for each image's own size (ROS reads a value like 0x0 as a "
                          "hexadecimal integer: quote sizes, -p \"input_size:='1024x512'\" on the command "
                          "line, input_size: '1024x512' in YAML)".format(
                              config.input_size, type(config.input_size).__name__))
    check(config, PARAMETER, strict=True)  # types (ROS parameters are typed), choices, ranges
    if not config.weights.strip():
        raise ConfigError("parameter weights is empty; expected a checkpoint path, a preset name or 'demo'")
    if not is_device_name(config.device):
        raise ConfigError("parameter device = {!r}; expected {}".format(config.device, DEVICE_NAMES))
    parse_size(config.input_size)
    palette = config.palette
    if palette not in ("checkpoint",) + BUILTIN_PALETTES:
        if not palette.lower().endswith((".yaml", ".yml", ".json")):
            raise ConfigError("parameter palette = {!r}; expected checkpoint, {} or a .yaml/.json file"
                              .format(palette, ", ".join(BUILTIN_PALETTES)))
    return config


def check_runtime_change(name: str, value: Any, current: NodeConfig) -> NodeConfig:
    """The config after setting ``name`` while the node runs, or ConfigError with the reason it is refused."""
    info = parameter_info(name)
    if not info["runtime"]:
        raise ConfigError("parameter {} is read at start-up only (it changes the model or the topics); "
                          "restart the node to change it".format(name))
    return replace(current, **{name: value})


def runtime_parameters() -> List[str]:
    return [f.name for f in fields(NodeConfig) if f.metadata["runtime"]]


def node_section(document: Any, path: str = "params file", node_name: str = NODE_NAME) -> Dict[str, Any]:
    """The ``ros__parameters`` for this node in a parsed ROS 2 params file (sections named by the node's
    name, '/**', '/**/name' or '/namespace/name' are merged)."""
    if not isinstance(document, dict):
        raise ConfigError("{}: expected a ROS 2 params file ('{}: ros__parameters: ...'), got {}".format(
            path, node_name, type(document).__name__))
    found = {}  # type: Dict[str, Any]
    for key, section in document.items():
        bare = str(key).strip("/").split("/")[-1]
        if bare in (node_name, "**") and isinstance(section, dict):
            if "ros__parameters" not in section:
                raise ConfigError("{}: section {!r} has no ros__parameters".format(path, key))
            found.update(section["ros__parameters"] or {})
    if not found and document:
        raise ConfigError("{}: no section for node {!r} (expected '{}: ros__parameters: ...'); found: {}"
                          .format(path, node_name, node_name, ", ".join(str(k) for k in document)))
    return found


def load_yaml(path: str, node_name: str = NODE_NAME) -> NodeConfig:
    """Load and validate a ROS 2 params file; unknown keys are an error that lists the valid ones."""
    import yaml

    if not os.path.isfile(path):
        raise ConfigError("params file {!r} does not exist".format(path))
    try:
        with open(path) as f:
            document = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError("params file {!r} is not valid YAML: {}".format(path, reason)) from None
    return NodeConfig.from_dict(node_section(document or {}, path, node_name), source=path)


def demo_checkpoint_candidates() -> List[str]:
    """Where the bundled demo checkpoint may be: the ROS package share dir, then the repository's demo/."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(os.path.join(get_package_share_directory("swiftnet_ros"), "demo", DEMO_CHECKPOINT))
    except Exception:  # not a ROS install, or the package is not installed there
        pass
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    candidates.append(os.path.join(repo, "demo", DEMO_CHECKPOINT))
    return candidates


def resolve_weights(weights: str) -> str:
    """'demo' -> the bundled checkpoint's path; a path-like value must exist; a preset name stays as is."""
    if weights == DEMO_WEIGHTS:
        candidates = demo_checkpoint_candidates()
        for path in candidates:
            if os.path.isfile(path):
                return path
        raise ConfigError("weights 'demo': the bundled checkpoint {} was not found at {}".format(
            DEMO_CHECKPOINT, " or ".join(candidates)))
    path = os.path.expanduser(weights)
    looks_like_path = os.sep in weights or weights.lower().endswith(WEIGHTS_SUFFIXES)
    if looks_like_path and not os.path.isfile(path):
        raise ConfigError("weights file {!r} does not exist".format(weights))
    return path


def load_palette(value: str, num_classes: int) -> Optional[np.ndarray]:
    """(C, 3) uint8 colours for the ``palette`` parameter, or None to keep the checkpoint's."""
    if value == "checkpoint":
        return None
    if value in BUILTIN_PALETTES:
        colours = get_label_set(value).palette
    else:
        colours = _read_palette_file(value)
    try:
        return check_palette(colours, num_classes, "palette {!r}".format(value))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _read_palette_file(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise ConfigError("palette file {!r} does not exist".format(path))
    try:
        with open(path) as f:
            if path.lower().endswith(".json"):
                data = json.load(f)
            else:
                import yaml

                data = yaml.safe_load(f)
    except Exception as exc:  # JSON and YAML raise different error types
        reason = " ".join(str(exc).split())
        raise ConfigError("palette file {!r} could not be read: {}".format(path, reason)) from None
    if isinstance(data, dict):
        data = data.get("palette")
    try:
        return np.array(data)
    except Exception:
        raise ConfigError("palette file {!r} must hold a list of [r, g, b] (or 'palette:' such a list)"
                          .format(path)) from None
