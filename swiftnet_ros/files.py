"""Files: the image and weights files this package reads, and atomic writes (a temporary file in the
same folder, then a rename, so that an interrupted export, engine build or training run never leaves
a partial file under the final name). No torch: the node's parameters check weights names with it."""

import contextlib
import json
import os
from typing import Iterator

# image files OpenCV decodes for us: folder datasets, `segment` inputs, int8 calibration folders
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# weights files (``infer.weights.weights_kind``): checkpoints, exported ONNX, TensorRT engines
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
WEIGHTS_SUFFIXES = CHECKPOINT_SUFFIXES + ONNX_SUFFIXES + ENGINE_SUFFIXES


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path to write; renamed to ``path`` on success, removed on any failure."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = "{}.tmp-{}".format(path, os.getpid())
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes_atomic(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_json_atomic(path: str, data: object) -> None:
    write_bytes_atomic(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8"))
