"""The build cache: files made from a model once (ONNX exports, TensorRT engines) and reused.

One folder (``default_cache_dir``, or the caller's ``engine_cache_dir``); each entry's file name is
its key, so a changed model, size, precision or runtime makes a new entry. ``backend: auto``'s timed
choices live there too (``autoselect.py``: ``<folder>/auto/``). Entries are written
atomically; one that fails its check (stale or corrupt) is rebuilt with a log line.
"""

import hashlib
import logging
import os
from typing import Callable, Sequence, Tuple

from swiftnet_ros.files import write_bytes_atomic

LOG = logging.getLogger(__name__)


CACHE_DIR_VARIABLE = "SWIFTNET_ROS_CACHE_DIR"


def default_cache_dir() -> str:
    """$SWIFTNET_ROS_CACHE_DIR (the tests point it at a folder of their own), else
    $XDG_CACHE_HOME/swiftnet_ros/engines, else ~/.cache/swiftnet_ros/engines."""
    if os.environ.get(CACHE_DIR_VARIABLE):
        return os.environ[CACHE_DIR_VARIABLE]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "swiftnet_ros", "engines")


def load_or_build(path: str, build: Callable[[], bytes], is_valid: Callable[[bytes], bool],
                  force_rebuild: bool = False, what: str = "file") -> Tuple[bytes, bool]:
    """The cached bytes at ``path``, or ``build()`` them and cache them; returns (bytes, built).

    A cached file that ``is_valid`` rejects is rebuilt with a log line; ``force_rebuild`` ignores the
    cache. Built bytes that fail ``is_valid`` are a RuntimeError and are not cached.
    """
    if os.path.isfile(path) and not force_rebuild:
        with open(path, "rb") as f:
            data = f.read()
        if is_valid(data):
            LOG.info("using cached %s %s", what, path)
            return data, False
        LOG.warning("cached %s %s is stale or corrupt; rebuilding", what, path)
    elif force_rebuild and os.path.isfile(path):
        LOG.info("force rebuild: ignoring cached %s %s", what, path)
    data = build()
    if not is_valid(data):
        raise RuntimeError("the new {} is not valid ({} bytes)".format(what, len(data)))
    write_bytes_atomic(path, data)
    LOG.info("cached %s %s", what, path)
    return data, True


def weights_hash(weights: str, model: object) -> str:
    """sha256 of a checkpoint file (weights, config, class names, palette), or of a preset's seeded
    parameters and config: the key of what is made from them."""
    digest = hashlib.sha256()
    if os.path.isfile(weights):
        with open(weights, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    digest.update("preset {} {}".format(weights, getattr(model, "config", None)).encode("utf-8"))
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def code_hash() -> str:
    """sha256 of the model package's and the exporter's source: an export made by other code is another."""
    import swiftnet_ros.infer.export as export
    import swiftnet_ros.model as model

    digest = hashlib.sha256()
    folder = os.path.dirname(os.path.abspath(model.__file__))
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".py"))
    for path in paths + [os.path.abspath(export.__file__)]:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def sources_hash(folders: Sequence[str]) -> str:
    """sha256 of every .py file in ``folders`` (not their sub-folders), in a fixed order: what is
    measured with this code (``autoselect``'s timings) is measured again after it changes."""
    digest = hashlib.sha256()
    for folder in folders:
        for name in sorted(n for n in os.listdir(folder) if n.endswith(".py")):
            digest.update(name.encode("utf-8"))
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def export_cache_key(hash_text: str, size: Tuple[int, int], opset: int, argmax: str, fp16: bool) -> str:
    """The file name of an ONNX export: weights hash, size, opset, argmax, precision, the exporter's
    version (torch) and the model code's hash."""
    import torch

    version = "".join(c if c.isalnum() or c == "." else "-" for c in torch.__version__)
    return "{}_{}x{}_opset{}_{}_{}_torch{}_code{}.onnx".format(
        hash_text[:20], int(size[0]), int(size[1]), int(opset), argmax, "fp16" if fp16 else "fp32",
        version, code_hash()[:12])
