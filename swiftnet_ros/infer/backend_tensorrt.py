"""TensorRT backend: engine building, an engine cache, and a runtime for both TensorRT Python APIs.

- TensorRT 8.0-8.4 (JetPack 4.6 on the TX2 has 8.2): binding indices, ``execute_async_v2``.
- TensorRT >= 8.5 and 10: named tensors, ``set_tensor_address`` + ``execute_async_v3`` (10 removed
  the binding API). Which one is used is decided by ``select_tensorrt_features`` from the module's
  version and attribute names only, so the choice is testable without TensorRT installed.
Device buffers are torch CUDA tensors (no pycuda), and the engine runs on torch's current CUDA
stream so that the argmax that follows is ordered after it without a host synchronisation.
Engines are cached under a key made of the ONNX file's hash, input size, precision, GPU name and
TensorRT version; a cached engine that does not deserialise (stale or corrupt) is rebuilt.
"""

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Tuple

import torch

from swiftnet_ros.files import write_bytes_atomic
from swiftnet_ros.infer.backend import StaticGraphBackend, check_precision
from swiftnet_ros.infer.cache import default_cache_dir
from swiftnet_ros.infer.options import DEFAULT_WORKSPACE_MB, TensorRTOptions

LOG = logging.getLogger(__name__)


def import_tensorrt() -> object:
    """The tensorrt module, or a one-line error that says it is missing and what to use instead."""
    try:
        import tensorrt
    except (ImportError, OSError) as error:  # OSError: tensorrt_bindings that cannot load libnvinfer
        raise RuntimeError("TensorRT is not installed or cannot load ({}); it ships with JetPack on Jetson "
                           "and as NVIDIA's tensorrt wheels on desktops; use backend 'torch' or "
                           "'onnxruntime' instead".format(error)) from None
    return tensorrt


def parse_version(version: str) -> Tuple[int, ...]:
    """"8.2.1.8" -> (8, 2, 1, 8); trailing non-numeric parts (e.g. "10.0.0b6") are cut at the first letter."""
    parts = []
    for piece in str(version).split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group(0)))
    if not parts:
        raise ValueError("cannot parse TensorRT version {!r}; expected something like '8.2.1'"
                         .format(version))
    return tuple(parts)


@dataclass
class TensorRTFeatures:
    """Which TensorRT Python API to use: ``api`` is "bindings" (8.x) or "named_tensors" (>= 8.5)."""

    version: Tuple[int, ...]
    api: str
    explicit_batch_flag: bool  # create_network needs the EXPLICIT_BATCH flag (< 10; the default from 10)
    memory_pool_limit: bool  # config.set_memory_pool_limit (>= 8.4) instead of config.max_workspace_size


def select_tensorrt_features(version: str, engine_attrs: Iterable[str], context_attrs: Iterable[str],
                             config_attrs: Iterable[str], network_flags: Iterable[str]) -> TensorRTFeatures:
    """Decide the API from the version and attribute names of ICudaEngine, IExecutionContext, IBuilderConfig.

    The named-tensor API is preferred wherever it is complete (8.5 deprecated bindings, 10 removed them).
    """
    parsed = parse_version(version)
    if parsed < (8,):
        raise ValueError("TensorRT {} is too old; expected >= 8.0 (build_serialized_network)".format(version))
    engine_attrs, context_attrs = set(engine_attrs), set(context_attrs)
    named = {"num_io_tensors", "get_tensor_name", "get_tensor_mode"} <= engine_attrs and \
        {"set_tensor_address", "execute_async_v3"} <= context_attrs
    bindings = {"num_bindings", "get_binding_name", "binding_is_input"} <= engine_attrs and \
        "execute_async_v2" in context_attrs
    if named:
        api = "named_tensors"
    elif bindings:
        api = "bindings"
    else:
        raise ValueError("TensorRT {} offers neither the named-tensor API (num_io_tensors, execute_async_v3) "
                         "nor the binding API (num_bindings, execute_async_v2)".format(version))
    return TensorRTFeatures(version=parsed, api=api,
                            explicit_batch_flag="EXPLICIT_BATCH" in set(network_flags) and parsed < (10,),
                            memory_pool_limit="set_memory_pool_limit" in set(config_attrs))


def tensorrt_features_of(trt: object) -> TensorRTFeatures:
    """``select_tensorrt_features`` for an imported tensorrt module."""
    flags = getattr(trt.NetworkDefinitionCreationFlag, "__members__", {})
    return select_tensorrt_features(trt.__version__, dir(trt.ICudaEngine), dir(trt.IExecutionContext),
                                    dir(trt.IBuilderConfig), list(flags))


def onnx_hash(onnx_bytes: bytes) -> str:
    return hashlib.sha256(onnx_bytes).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", str(text)).strip("-") or "unknown"


def engine_cache_key(model_hash: str, input_size: Tuple[int, int], precision: str, gpu_name: str,
                     trt_version: str) -> str:
    """A file name that changes with every component that makes an engine unusable elsewhere."""
    if precision not in ("fp32", "fp16"):
        raise ValueError("unknown precision {!r}; expected fp32 or fp16".format(precision))
    if len(input_size) != 2 or min(input_size) < 1:
        raise ValueError("input_size must be (height, width) > 0, got {!r}".format(input_size))
    return "{}_{}x{}_{}_{}_trt{}.engine".format(model_hash[:20], int(input_size[0]), int(input_size[1]),
                                                 precision, _slug(gpu_name), _slug(trt_version))


def load_or_build_engine(path: str, build: Callable[[], bytes], is_valid: Callable[[bytes], bool],
                         force_rebuild: bool = False) -> Tuple[bytes, bool]:
    """Cached engine bytes at ``path``, or ``build()`` them (and cache them); returns (bytes, built).

    A cached file that ``is_valid`` rejects (TensorRT could not deserialise it: stale or corrupt) is
    rebuilt with a log line; ``force_rebuild`` ignores the cache.
    """
    if os.path.isfile(path) and not force_rebuild:
        with open(path, "rb") as f:
            data = f.read()
        if is_valid(data):
            LOG.info("using cached TensorRT engine %s", path)
            return data, False
        LOG.warning("cached TensorRT engine %s is stale or corrupt (it does not deserialise); rebuilding",
                    path)
    elif force_rebuild and os.path.isfile(path):
        LOG.info("force rebuild: ignoring cached TensorRT engine %s", path)
    data = build()
    if not is_valid(data):
        raise RuntimeError("TensorRT built an engine that does not deserialise ({} bytes)".format(len(data)))
    write_bytes_atomic(path, data)
    LOG.info("cached TensorRT engine %s", path)
    return data, True


def build_engine(onnx_bytes: bytes, fp16: bool = False, workspace_mb: int = DEFAULT_WORKSPACE_MB,
                 timing_cache: Optional[str] = None) -> bytes:
    """Parse ONNX and build a serialized engine (the slow step: minutes on a Jetson)."""
    trt = import_tensorrt()
    features = tensorrt_features_of(trt)
    TensorRTOptions(workspace_mb=workspace_mb, timing_cache=timing_cache)  # the options' checks
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH) if features.explicit_batch_flag else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError("TensorRT could not parse the ONNX model: {}".format(errors))
    config = builder.create_builder_config()
    if features.memory_pool_limit:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    else:
        config.max_workspace_size = workspace_mb << 20
    if fp16:
        if not builder.platform_has_fast_fp16:
            LOG.warning("this GPU has no fast fp16; building an fp16 engine anyway")
        config.set_flag(trt.BuilderFlag.FP16)
    cache = None
    if timing_cache:
        data = b""
        if os.path.isfile(timing_cache):
            with open(timing_cache, "rb") as f:
                data = f.read()
        cache = config.create_timing_cache(data)
        config.set_timing_cache(cache, False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("TensorRT failed to build an engine (see its log above)")
    if cache is not None:
        write_bytes_atomic(timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


@dataclass
class TensorSpec:
    name: str
    index: int
    is_input: bool
    shape: Tuple[int, ...]
    dtype: str  # TensorRT DataType name: FLOAT, HALF, INT32, ...


_TORCH_DTYPES = {"FLOAT": torch.float32, "HALF": torch.float16, "INT32": torch.int32, "INT64": torch.int64,
                 "INT8": torch.int8, "UINT8": torch.uint8, "BOOL": torch.bool}


def _dtype_name(dtype: object) -> str:
    return getattr(dtype, "name", str(dtype).split(".")[-1])


def engine_io(engine: object, api: str, trt: object) -> List[TensorSpec]:
    """Inputs and outputs of an engine through whichever API ``api`` names."""
    specs = []
    if api == "named_tensors":
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            specs.append(TensorSpec(name, i, is_input, tuple(engine.get_tensor_shape(name)),
                                    _dtype_name(engine.get_tensor_dtype(name))))
    else:
        for i in range(engine.num_bindings):
            specs.append(TensorSpec(engine.get_binding_name(i), i, bool(engine.binding_is_input(i)),
                                    tuple(engine.get_binding_shape(i)),
                                    _dtype_name(engine.get_binding_dtype(i))))
    return specs


def gpu_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device)


class TensorRTBackend(StaticGraphBackend):
    """Runs a serialized engine (static 1 x 3 x H x W input) on a CUDA device.

    An engine whose scores are smaller than its input (built from an ``--argmax host_stride4`` export)
    needs ``upsample``, the model's resize mode (its metadata's), to resize them; without it, it is refused.
    """

    name = "tensorrt"
    graph_kind = "engine"

    def __init__(self, engine_bytes: bytes, device: torch.device, precision: str = "fp32",
                 upsample: Optional[str] = None) -> None:
        trt = import_tensorrt()
        if device.type != "cuda":
            raise ValueError("the tensorrt backend needs a CUDA device, got {!r}".format(str(device)))
        check_precision(precision, device)
        self.trt = trt
        self.features = tensorrt_features_of(trt)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        with torch.cuda.device(device):
            self.engine = self.runtime.deserialize_cuda_engine(engine_bytes)
            if self.engine is None:
                raise ValueError("TensorRT could not deserialise the engine (built by another TensorRT "
                                 "version or GPU, or corrupt); rebuild it with `swiftnet-ros build-engine`")
            self.context = self.engine.create_execution_context()
        specs = engine_io(self.engine, self.features.api, trt)
        inputs = [s for s in specs if s.is_input]
        outputs = [s for s in specs if not s.is_input]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError("expected an engine with one input and one output, got {} and {}".format(
                len(inputs), len(outputs)))
        self.input, self.output = inputs[0], outputs[0]
        if len(self.input.shape) != 4 or min(self.input.shape) < 1:
            raise ValueError("expected a static 1x3xHxW engine input, got shape {}".format(self.input.shape))
        for spec in (self.input, self.output):
            if spec.dtype not in _TORCH_DTYPES:
                raise ValueError("unsupported engine tensor type {} for {}".format(spec.dtype, spec.name))
        outputs_labels = self.output.dtype not in ("FLOAT", "HALF")
        num_classes = -1 if outputs_labels else int(self.output.shape[1])
        fixed = (self.input.shape[2], self.input.shape[3])
        stride4 = not outputs_labels and tuple(self.output.shape[2:]) != tuple(fixed)
        if stride4 and upsample is None:
            raise ValueError("this engine outputs stride-4 logits ({}, an --argmax host_stride4 export): the "
                             "tensorrt backend runs --argmax host or in_graph exports; export it again with "
                             "--argmax host".format("x".join(map(str, self.output.shape))))
        super().__init__(device, precision, num_classes, fixed_size=fixed, outputs_labels=outputs_labels,
                         upsample=upsample if stride4 else None)
        self._out = torch.empty(self.output.shape, dtype=_TORCH_DTYPES[self.output.dtype], device=device)
        self._bindings = [0] * len(specs)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if x.shape[0] != self.input.shape[0]:
            raise ValueError("the engine takes batch {}, got {}".format(self.input.shape[0], x.shape[0]))
        x = x.to(_TORCH_DTYPES[self.input.dtype]).contiguous()
        stream = torch.cuda.current_stream(self.device).cuda_stream
        if self.features.api == "named_tensors":
            self.context.set_tensor_address(self.input.name, x.data_ptr())
            self.context.set_tensor_address(self.output.name, self._out.data_ptr())
            ok = self.context.execute_async_v3(stream)
        else:
            self._bindings[self.input.index] = x.data_ptr()
            self._bindings[self.output.index] = self._out.data_ptr()
            ok = self.context.execute_async_v2(self._bindings, stream)
        if not ok:
            raise RuntimeError("TensorRT execution failed")
        return self._out

    def describe(self) -> str:
        return "tensorrt {} {} ({} API)".format(".".join(map(str, self.features.version)), self.precision,
                                                 self.features.api)


def engine_for_onnx(onnx_bytes: bytes, input_size: Tuple[int, int], precision: str, device: torch.device,
                    cache_dir: Optional[str] = None, force_rebuild: bool = False,
                    workspace_mb: int = DEFAULT_WORKSPACE_MB,
                    timing_cache: Optional[str] = None) -> Tuple[bytes, str]:
    """Engine bytes for an ONNX model from the cache (or built and cached); returns (bytes, cache path)."""
    trt = import_tensorrt()
    key = engine_cache_key(onnx_hash(onnx_bytes), input_size, precision, gpu_name(device), trt.__version__)
    path = os.path.join(cache_dir or default_cache_dir(), key)
    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))

    def is_valid(data: bytes) -> bool:
        try:
            with torch.cuda.device(device):
                return runtime.deserialize_cuda_engine(data) is not None
        except Exception:  # noqa: BLE001 - any deserialisation failure means "rebuild"
            return False

    def build() -> bytes:
        LOG.info("building a TensorRT %s engine for %dx%d (this takes minutes)", precision, *input_size)
        with torch.cuda.device(device):
            return build_engine(onnx_bytes, fp16=precision == "fp16", workspace_mb=workspace_mb,
                                timing_cache=timing_cache)

    data, _ = load_or_build_engine(path, build, is_valid, force_rebuild)
    return data, path
