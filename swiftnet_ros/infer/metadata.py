"""The metadata that makes an exported ONNX file (and a built engine) self-describing.

Stored as string key/value pairs: ONNX ``metadata_props``, and a JSON side file next to a
TensorRT engine (engines have no metadata of their own).
"""

import json
import os
from typing import Dict, List, Optional, Tuple

FORMAT = "swiftnet_ros.onnx/1"
LOGITS, LABELS, LOGITS_STRIDE4 = "logits", "labels", "logits_stride4"
OUTPUTS = (LOGITS, LABELS, LOGITS_STRIDE4)
"""What the graph outputs: float logits at the input size, int32 labels (it ends in ArgMax), or the
float logits at stride 4, before the model's final resize ("upsample" says which resize that is)."""


def encode_metadata(model_name: str, class_names: List[str], palette: List[List[int]],
                    input_size: Tuple[int, int], upsample: str, output: str, precision: str,
                    config: Optional[dict] = None) -> Dict[str, str]:
    """Metadata as the string map ONNX stores (values are JSON where they are not plain strings)."""
    if output not in OUTPUTS:
        raise ValueError("output must be one of {}, got {!r}".format(", ".join(OUTPUTS), output))
    if len(palette) != len(class_names):
        raise ValueError("palette has {} colours but there are {} class names".format(
            len(palette), len(class_names)))
    return {
        "format": FORMAT,
        "model_name": str(model_name),
        "class_names": json.dumps([str(c) for c in class_names]),
        "palette": json.dumps([[int(v) for v in c] for c in palette]),
        "input_size": json.dumps([int(input_size[0]), int(input_size[1])]),
        "upsample": str(upsample),
        "output": output,
        "precision": precision,
        "config": json.dumps(config or {}, sort_keys=True),
    }


def decode_metadata(props: Dict[str, str], source: str = "model") -> dict:
    """The inverse of ``encode_metadata``; a clear error if the file was not exported by this package."""
    if props.get("format") != FORMAT:
        raise ValueError("{} has no swiftnet_ros metadata (format {!r}, expected {!r}); export it with "
                         "`swiftnet-ros export`".format(source, props.get("format"), FORMAT))
    if props.get("output") not in OUTPUTS:
        raise ValueError("{} has output kind {!r}, expected one of {}: export it again with "
                         "`swiftnet-ros export`".format(source, props.get("output"), ", ".join(OUTPUTS)))
    try:
        size = json.loads(props["input_size"])
        return {
            "model_name": props["model_name"],
            "class_names": list(json.loads(props["class_names"])),
            "palette": [list(c) for c in json.loads(props["palette"])],
            "input_size": (int(size[0]), int(size[1])),
            "upsample": props["upsample"],
            "output": props["output"],
            "precision": props["precision"],
            "config": json.loads(props.get("config", "{}")),
        }
    except (KeyError, ValueError, TypeError, IndexError) as error:
        raise ValueError("{} has broken swiftnet_ros metadata: {!r}".format(source, error)) from None


def stride4_upsample(props: Dict[str, str]) -> Optional[str]:
    """The resize mode that takes a graph's stride-4 logits to the input size (metadata output
    ``logits_stride4``), or None: the graph outputs full-resolution logits or labels, or the file has
    no swiftnet_ros metadata (its output is then taken as it is)."""
    if props.get("format") != FORMAT or props.get("output") != LOGITS_STRIDE4:
        return None
    return decode_metadata(props)["upsample"]


def set_onnx_metadata(proto: object, props: Dict[str, str]) -> None:
    """Replace an onnx ModelProto's ``metadata_props`` with ``props`` (the export's and the quantizer's)."""
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)


def read_onnx_metadata(path_or_bytes: object) -> dict:
    """Metadata of an ONNX file (path or bytes), read with onnx if installed, else with onnxruntime."""
    source = path_or_bytes if isinstance(path_or_bytes, str) else "ONNX model"
    if isinstance(path_or_bytes, str) and not os.path.isfile(path_or_bytes):
        raise FileNotFoundError("ONNX file {!r} not found".format(path_or_bytes))
    try:
        import onnx
    except ImportError:
        onnx = None
    try:
        if onnx is not None:
            if isinstance(path_or_bytes, str):
                proto = onnx.load(path_or_bytes, load_external_data=False)
            else:
                proto = onnx.load_from_string(bytes(path_or_bytes))
            props = {p.key: p.value for p in proto.metadata_props}
        else:
            import onnxruntime

            session = onnxruntime.InferenceSession(path_or_bytes, providers=["CPUExecutionProvider"])
            props = dict(session.get_modelmeta().custom_metadata_map)
    except Exception as error:  # noqa: BLE001 - protobuf and onnxruntime raise their own types
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError("{} is not a readable ONNX model ({})".format(source, reason)) from None
    return decode_metadata(props, str(source))


def engine_metadata_path(engine_path: str) -> str:
    """The JSON side file that carries an engine's metadata: ``model.engine`` -> ``model.engine.json``."""
    return engine_path + ".json"
