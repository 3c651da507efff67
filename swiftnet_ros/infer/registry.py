"""The backend registry: each backend's name, its options class and the factory that builds it.

Everything that picks, configures or builds a backend asks here (the Segmenter, the node, the
benchmarks), so a backend is added in one place: an options dataclass in ``options.py``, a
factory below and one ``BackendEntry`` in ``_ENTRIES``. Backend modules are imported by the
factories only, so naming and checking options needs no torch, onnxruntime or TensorRT.
"""

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Tuple

from swiftnet_ros.choices import AUTO, BACKENDS, BF16, FP16, FP32, INT8, ONNXRUNTIME, TENSORRT, TORCH
from swiftnet_ros.infer.options import (
    EXPORT_OPTIONS,
    OnnxRuntimeOptions,
    TensorRTOptions,
    TorchOptions,
    make_options,
    switch_names,
)

if TYPE_CHECKING:  # annotations only: this module imports no torch
    import torch

    from swiftnet_ros.infer.backend import Backend

LOG = logging.getLogger(__name__)

Size = Tuple[int, int]


@dataclass
class BuildContext:
    """What a factory builds a backend from.

    ``kind``: "preset" | "checkpoint" | "onnx" | "engine" (``weights.weights_kind``); ``model``: the
    loaded nn.Module for presets and checkpoints; ``export(size, opset=..., argmax=..., fp16=...)``:
    that model's ONNX bytes at a size (the Segmenter's export, with its class names and palette).
    """

    weights: str
    kind: str
    device: "torch.device"
    precision: str
    model: Any = None
    export: Optional[Callable[..., bytes]] = None
    engine_cache_dir: Optional[str] = None
    force_engine_rebuild: bool = False


Factory = Callable[[BuildContext, Dict[str, Any], Optional[Size]], "Backend"]


@dataclass(frozen=True)
class BackendEntry:
    """One backend: ``options`` its options dataclass; ``build(context, options, size)`` the factory
    (``options``: the caller's checked choices, a dict so that defaults can depend on the model and
    device); ``fixed_size``: it runs a graph of static shape, built for one input size (None: the
    Segmenter builds it at the first image); ``precisions``: what it runs at; ``threads_option``: the
    option that sets its CPU threads (None: it uses torch's, ``torch.set_num_threads``);
    ``check_available``: raises now when the runtime is missing, rather than at the first image."""

    name: str
    options: type
    build: Factory
    fixed_size: bool
    precisions: Tuple[str, ...]
    threads_option: Optional[str] = None
    check_available: Optional[Callable[[], object]] = None


# ---------------------------------------------------------------------------- factories
def _build_torch(context: BuildContext, options: Dict[str, Any], size: Optional[Size]) -> "Backend":
    from swiftnet_ros.infer.backend_torch import TorchBackend, default_options

    chosen = default_options(context.model, context.device, options, context.precision)
    if chosen.get("compile"):
        LOG.info("torch.compile: the first image of each size compiles the model first (slow once)")
    return TorchBackend(context.model, context.device, context.precision, **chosen)


def _split_export(context: BuildContext, options: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(export options, the rest); export options for a file that is already exported are refused."""
    export = {k: v for k, v in options.items() if k in EXPORT_OPTIONS}
    if export and context.kind in ("onnx", "engine"):
        raise ValueError("{} are export options; {} is already exported".format(
            " / ".join(EXPORT_OPTIONS), context.weights))
    return export, {k: v for k, v in options.items() if k not in EXPORT_OPTIONS}


def _build_onnxruntime(context: BuildContext, options: Dict[str, Any], size: Optional[Size]) -> "Backend":
    from swiftnet_ros.infer.backend_onnxruntime import OnnxRuntimeBackend

    export, runtime = _split_export(context, options)
    source = context.weights if context.kind == "onnx" else _cached_export(context, size, export)
    return OnnxRuntimeBackend(source, context.device, context.precision, **runtime)


def _cached_export(context: BuildContext, size: Size, export: Dict[str, Any]) -> bytes:
    """The model's ONNX export at ``size``, made once and kept in the engine cache folder (keyed by
    the weights' hash, size, export options, precision and versions; a corrupt entry is remade).
    On a CPU the graph stops at the stride-4 logits unless asked otherwise (the fastest measured)."""
    import os

    from swiftnet_ros.infer.cache import default_cache_dir, export_cache_key, load_or_build, weights_hash
    from swiftnet_ros.infer.metadata import read_onnx_metadata
    from swiftnet_ros.infer.options import DEFAULT_OPSET, HOST, HOST_STRIDE4

    opset = export.get("opset") or DEFAULT_OPSET
    argmax = export.get("argmax") or (HOST_STRIDE4 if context.device.type == "cpu" else HOST)
    fp16 = context.precision == "fp16"
    key = export_cache_key(weights_hash(context.weights, context.model), size, opset, argmax, fp16)

    def is_valid(data: bytes) -> bool:
        try:
            return tuple(read_onnx_metadata(data)["input_size"]) == tuple(size)
        except ValueError:
            return False

    path = os.path.join(context.engine_cache_dir or default_cache_dir(), "onnx", key)
    data, _ = load_or_build(path, lambda: context.export(size, opset=opset, argmax=argmax, fp16=fp16),
                            is_valid, context.force_engine_rebuild, "ONNX export")
    return data


def _build_tensorrt(context: BuildContext, options: Dict[str, Any], size: Optional[Size]) -> "Backend":
    from swiftnet_ros.infer.backend_tensorrt import TensorRTBackend, engine_for_onnx

    export, build = _split_export(context, options)
    if context.kind == "engine":
        with open(context.weights, "rb") as f:
            return TensorRTBackend(f.read(), context.device, context.precision)
    if context.kind == "onnx":
        with open(context.weights, "rb") as f:
            onnx_bytes = f.read()
    else:  # fp32 ONNX; fp16 is the builder's flag (more robust than fp16 ONNX)
        onnx_bytes = context.export(size, fp16=False, **export)
    settings = TensorRTOptions(**build)
    engine, path = engine_for_onnx(onnx_bytes, size, context.precision, context.device,
                                   context.engine_cache_dir, context.force_engine_rebuild,
                                   workspace_mb=settings.workspace_mb, timing_cache=settings.timing_cache)
    LOG.info("TensorRT engine %s", path)
    return TensorRTBackend(engine, context.device, context.precision)


def _import_tensorrt() -> object:
    from swiftnet_ros.infer.backend_tensorrt import import_tensorrt

    return import_tensorrt()


_ENTRIES = OrderedDict((entry.name, entry) for entry in (
    BackendEntry(TORCH, TorchOptions, _build_torch, fixed_size=False, precisions=(FP32, FP16, BF16)),
    BackendEntry(ONNXRUNTIME, OnnxRuntimeOptions, _build_onnxruntime, fixed_size=True,
                 precisions=(FP32, FP16, INT8), threads_option="threads"),
    BackendEntry(TENSORRT, TensorRTOptions, _build_tensorrt, fixed_size=True, precisions=(FP32, FP16),
                 check_available=_import_tensorrt),
))
# one entry per name of choices.BACKENDS (what a user may ask for: "auto" or a registered backend)


# ---------------------------------------------------------------------------- queries
def backend_entry(name: str) -> BackendEntry:
    """The registered backend ``name``, or a ValueError naming the valid ones."""
    if name not in _ENTRIES:
        raise ValueError("unknown backend {!r}; expected one of {}".format(name, ", ".join(_ENTRIES)))
    return _ENTRIES[name]


def check_backend(backend: str) -> str:
    """``backend`` if it is "auto" or a registered backend, else a ValueError naming the valid ones."""
    if backend not in BACKENDS:
        raise ValueError("unknown backend {!r}; expected one of {}".format(backend, ", ".join(BACKENDS)))
    return backend


AUTO_CANDIDATES = (TORCH, ONNXRUNTIME)
"""What "auto" times against each other for a checkpoint or preset on a CPU (``autoselect.py``)."""


def auto_times(backend: str, kind: str, device_type: Optional[str], precision: Optional[str] = None,
               options: Optional[Mapping[str, Any]] = None) -> bool:
    """True where "auto" is decided by timing ``AUTO_CANDIDATES`` (``autoselect.choose``): a checkpoint or
    preset on a CPU at fp32 with no backend options (options belong to one backend: then the rule)."""
    return (backend == AUTO and kind in ("preset", "checkpoint") and device_type == "cpu"
            and precision in (None, FP32) and not options)


def choose_backend(backend: str, kind: str, device_type: Optional[str] = None,
                   precision: Optional[str] = None) -> str:
    """The backend for ``backend`` ("auto" or a name) and a weights kind (preset/checkpoint/onnx/engine)
    on a device type ("cpu" / "cuda"; None: not known yet, as torch's) at ``precision`` (bf16: torch).

    auto: an engine -> tensorrt; an ONNX file -> onnxruntime; a checkpoint or preset -> on CUDA torch
    (CUDA graphs, no engine build step), on a CPU the faster of torch and onnxruntime, timed once for
    the machine, model and size (where ``auto_times``; this function then returns the rule for a CPU,
    onnxruntime, the faster one on both CPUs measured, used as such where backend options are given).
    Why: ``auto_reason``.
    """
    check_backend(backend)
    if kind == "engine":
        if backend not in (AUTO, "tensorrt"):
            raise ValueError("a TensorRT engine runs only with backend 'tensorrt', not {!r}".format(backend))
        return "tensorrt"
    if kind == "onnx":
        if backend == "torch":
            raise ValueError("backend 'torch' needs a checkpoint or a preset, not an ONNX file; use "
                             "backend 'onnxruntime' or 'tensorrt'")
        return "onnxruntime" if backend == AUTO else backend
    if backend == AUTO and precision == BF16:
        return TORCH  # the one backend that runs bf16
    if backend == AUTO:
        return "onnxruntime" if device_type == "cpu" else "torch"
    return backend


def auto_reason(backend: str, kind: str, device_type: Optional[str] = None,
                precision: Optional[str] = None, options_given: bool = False) -> str:
    """Why ``choose_backend`` picked what it did, for the node's and the Segmenter's log lines (a timed
    choice says its own: ``autoselect.choose``; this is the line until it is made)."""
    if backend != AUTO:
        return "backend {} as asked".format(backend)
    if kind == "engine":
        return "auto: a TensorRT engine runs on tensorrt"
    if kind == "onnx":
        return "auto: an ONNX file runs on onnxruntime"
    if precision == BF16:
        return "auto: precision bf16 runs on the torch backend only"
    if device_type == "cpu" and options_given:
        return ("auto: onnxruntime, the rule for a CPU where backend options are given (not timed: options "
                "belong to one backend; onnxruntime was the faster on both CPUs measured, "
                "bench/results/cpu_notes.md)")
    if device_type == "cpu":
        return ("auto: the faster of {} here, timed at the size it runs at and cached per machine, model and "
                "size".format(" and ".join(AUTO_CANDIDATES)))
    return "auto: on CUDA the torch backend (CUDA graphs; no engine build)"


def run_precision(backend: str, kind: str, precision: str, file_precision: Optional[str] = None) -> str:
    """The precision ``backend`` runs weights of ``kind`` at, or a ValueError saying why it cannot.

    int8 is an int8 ONNX file (``swiftnet-ros quantize``) on ONNX Runtime; such a file takes fp32 input,
    so precision fp32 (the default) runs it as int8. bf16 is a checkpoint's, on the torch backend.
    """
    if file_precision == INT8 and precision in (FP32, INT8):
        precision = INT8
    entry = backend_entry(backend)
    if precision not in entry.precisions:
        raise ValueError("precision {!r} is not offered by the {} backend (it runs {}){}".format(
            precision, backend, ", ".join(entry.precisions), _where_it_runs(precision, backend)))
    if precision == INT8 and file_precision != INT8:
        given = "an {} ONNX file".format(file_precision) if kind == "onnx" else "a {}".format(kind)
        raise ValueError("precision 'int8' needs an int8 ONNX file, not {}; make one with `swiftnet-ros "
                         "quantize --weights W -o model_int8.onnx`".format(given))
    return precision


_NO_BF16 = {ONNXRUNTIME: "ONNX Runtime's CPU provider has no bf16 convolutions",
            TENSORRT: "the TensorRT engines built here are fp32 or fp16"}


def _where_it_runs(precision: str, backend: str) -> str:
    """The end of run_precision's refusal: where ``precision`` runs instead, and why not on ``backend``."""
    if precision == INT8:
        return "; int8 runs on onnxruntime"
    if precision == BF16:
        return "; bf16 runs on the torch backend only: " + _NO_BF16.get(backend, "")
    return ""


def check_options(backend: str, options: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The caller's options for ``backend`` as a dict, after checking every name and value against
    the backend's options class (ValueError naming the bad one)."""
    chosen = dict(options or {})
    make_options(backend_entry(backend).options, backend, chosen)
    return chosen


def thread_options(backend: str, threads: Optional[int]) -> Dict[str, Any]:
    """The options that give ``backend`` ``threads`` CPU threads ({} where it uses torch's threads, as
    "auto" does for a model: resolve "auto" with ``choose_backend`` first where weights may be ONNX)."""
    if check_backend(backend) == AUTO:
        return {}
    name = backend_entry(backend).threads_option
    return {name: int(threads)} if name and threads else {}


def build_backend(backend: str, context: BuildContext, options: Optional[Mapping[str, Any]],
                  size: Optional[Size]) -> "Backend":
    """Build ``backend`` from ``context``; ``size`` = (H, W) for fixed-size backends built from a model."""
    return backend_entry(backend).build(context, check_options(backend, options), size)


def parse_backend_token(token: str) -> Tuple[str, Dict[str, bool]]:
    """A benchmark's backend token: "torch+jit-winograd" -> ("torch", {"jit": True, "winograd": False}).

    The name must be registered (or "auto", without switches) and each ``+name`` / ``-name`` an
    on/off option of that backend.
    """
    token = token.strip()
    name, options, i = "", {}, 0
    while i < len(token) and token[i] not in "+-":
        name += token[i]
        i += 1
    rest = token[i:]
    while rest:
        sign, rest = rest[0], rest[1:]
        j = 0
        while j < len(rest) and rest[j] not in "+-":
            j += 1
        option, rest = rest[:j], rest[j:]
        if not option:
            raise ValueError("backend {!r}: empty option after {!r}".format(token, sign))
        options[option] = sign == "+"
    if not name:
        raise ValueError("empty backend name in {!r}".format(token))
    if name == AUTO and not options:
        return name, options
    switches = switch_names(backend_entry(name).options)
    bad = sorted(set(options) - set(switches))
    if bad:
        raise ValueError("backend {!r}: {} not an on/off option of the {} backend; expected some of {}"
                         .format(token, ", ".join(bad), name, ", ".join(switches) or "(none)"))
    return name, options

