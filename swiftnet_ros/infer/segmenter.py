"""Segmenter: image in, label map out, through any backend (preprocess -> backend -> postprocess).

The image is uploaded as uint8 (a quarter of the float bytes), converted and resized on the
device; the backend's argmax runs on that device too, and only the uint8 label map comes back
(with the uint8 confidence map beside it when asked for).
Labels are resized to the input resolution with nearest-neighbour index gathering (no per-pixel
Python, exact for any size).
"""

import logging
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from swiftnet_ros.infer.backend import Backend, check_precision, resolve_device
from swiftnet_ros.infer.base import SegmentationResult, SegmenterBase, check_output_size
from swiftnet_ros.infer.export import check_input_size
from swiftnet_ros.infer.options import DEFAULT_OPSET, TorchOptions
from swiftnet_ros.infer.registry import (
    AUTO,
    BuildContext,
    auto_reason,
    auto_times,
    backend_entry,
    build_backend,
    check_backend,
    check_options,
    choose_backend,
    run_precision,
    thread_options,
)
from swiftnet_ros.infer.weights import as_palette, load_torch_weights, weights_kind

LOG = logging.getLogger(__name__)
MAX_SIZES_KEPT = 4  # fixed-size backends kept for images of different sizes (each holds its buffers)


def check_file_precision(weights: str, kind: str, file_precision: str, precision: str, backend: str) -> None:
    """An ONNX file or engine runs at its own precision, except that TensorRT builds fp16 engines from
    fp32 ONNX (a builder flag)."""
    if file_precision == precision or (kind == "onnx" and backend == "tensorrt" and file_precision == "fp32"):
        return
    raise ValueError("{} was exported for {} but precision {!r} was requested".format(
        weights, file_precision, precision))


def check_image(image: Any) -> np.ndarray:
    """An (H, W, 3) uint8 array; a gray (H, W) or (H, W, 1) image as three equal channels (the CLI and
    the node take gray images too); else a ValueError that says what was wrong."""
    if not isinstance(image, np.ndarray):
        raise ValueError("expected an (H, W, 3) or (H, W) gray uint8 numpy image, got {}"
                         .format(type(image).__name__))
    if image.dtype != np.uint8:
        raise ValueError("expected a uint8 image, got dtype {}".format(image.dtype))
    gray = image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1)
    if not (gray or (image.ndim == 3 and image.shape[2] == 3)) or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError("expected an (H, W, 3) or (H, W) gray image, got shape {}".format(image.shape))
    if gray:
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    return image


def image_to_batch(image: np.ndarray, rgb: bool, device: torch.device,
                   size: Optional[Tuple[int, int]] = None, keep_uint8: bool = False) -> torch.Tensor:
    """(H, W, 3) uint8 -> 1 x 3 x h x w float32 RGB on ``device``, bilinearly resized to size=(h, w).

    keep_uint8: where no resize is needed, the uint8 pixels themselves (a channels-last view of the
    image, no conversion pass; the backends convert in their first kernel).
    """
    pixels = torch.from_numpy(np.ascontiguousarray(check_image(image)))
    if device.type == "cuda":
        pixels = pixels.pin_memory().to(device, non_blocking=True)
    x = pixels.permute(2, 0, 1).unsqueeze(0)
    if not rgb:
        x = x.flip(1)
    resized = size is not None and tuple(x.shape[2:]) != tuple(size)
    if keep_uint8 and not resized:
        return x
    x = x.float()
    if resized:
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
    return x.contiguous()


def resize_labels(labels: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of N x h x w labels (any dtype) by gathering rows/cols floor(i * h / H)."""
    h, w = int(labels.shape[-2]), int(labels.shape[-1])
    height, width = int(size[0]), int(size[1])
    if (h, w) == (height, width):
        return labels
    # torch.div, not //: PyTorch 1.10 (the Jetson's) warns that its tensor // will change meaning
    rows = torch.div(torch.arange(height, device=labels.device) * h, height, rounding_mode="floor")
    cols = torch.div(torch.arange(width, device=labels.device) * w, width, rounding_mode="floor")
    return labels.index_select(-2, rows).index_select(-1, cols)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that timings measure it (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Segmenter(SegmenterBase):
    """One model behind one backend (the interface: ``base.SegmenterBase``).

    Args:
        weights: a checkpoint path, an exported .onnx, a TensorRT .engine (with its .engine.json side
            file), or a preset name (rn18, mnv2, ...: seeded random weights, for benchmarks).
        backend: "auto" | "torch" | "onnxruntime" | "tensorrt" (see ``choose_backend``; "auto" for a
            checkpoint or preset on a CPU at fp32 without backend_options: the faster of torch and
            onnxruntime, timed at the size it runs at and cached, ``autoselect.py``).
        precision: "fp32" | "fp16" (fp16 needs CUDA).
        device: "auto" | "cpu" | "cuda" | "cuda:N".
        input_size: (height, width) the model runs at; None = each image's own size for torch and
            for onnxruntime / tensorrt from a checkpoint (their graphs have static shapes: one is
            exported / built per image size, at its first image, the last ``MAX_SIZES_KEPT`` kept),
            the file's size for ONNX / engines.
        output_size: "input" (labels at the image's resolution) or "model" (at input_size).
        warmup: forward passes at construction (needs a known input size): CUDA graph capture,
            cuDNN autotuning, tracing.
        engine_cache_dir, force_engine_rebuild: the build cache: ONNX exports, TensorRT engines and
            auto's timed choices (default ``cache.default_cache_dir``); rebuild / time again.
        backend_options: the chosen backend's options by name (``options.TorchOptions``,
            ``OnnxRuntimeOptions``, ``TensorRTOptions``); torch's unset ones get the fastest measured
            choice for the model and device (``backend_torch.default_options``).
    """

    def __init__(self, weights: str, backend: str = "auto", precision: str = "fp32", device: str = "auto",
                 input_size: Optional[Tuple[int, int]] = None, output_size: str = "input", warmup: int = 1,
                 engine_cache_dir: Optional[str] = None, force_engine_rebuild: bool = False,
                 backend_options: Optional[Dict[str, Any]] = None) -> None:
        check_backend(backend)
        self.device = resolve_device(device)
        self.precision = check_precision(precision, self.device)
        if not isinstance(warmup, int) or warmup < 0:
            raise ValueError("warmup must be a non-negative integer, got {!r}".format(warmup))
        self.output_size = check_output_size(output_size)
        self.input_size = check_input_size(input_size) if input_size is not None else None
        kind = weights_kind(weights)
        # timed auto: backend_name is "auto" until the choice for a size is made (then the chosen one's,
        # with backend_reason saying why); rule is what the rest of the checks go by meanwhile
        self._timed = auto_times(backend, kind, self.device.type, self.precision, backend_options)
        rule = choose_backend(backend, kind, self.device.type, self.precision)
        self.backend_name = AUTO if self._timed else rule
        self.backend_reason = auto_reason(backend, kind, self.device.type, self.precision,
                                          options_given=bool(backend_options))
        self._options = check_options(rule, backend_options)
        entry = backend_entry(rule)
        if entry.check_available is not None:
            entry.check_available()  # fail now, not at the first image
        self.weights = weights
        self._engine_cache = (engine_cache_dir, force_engine_rebuild)
        self._model = None
        self._make_fixed: Optional[Callable[[Tuple[int, int]], Backend]] = None
        self.backend: Optional[Backend] = None
        # fixed-size backends from a model without input_size: one per image size, newest last
        self._per_image_size = False
        self._by_size: Dict[Tuple[int, int], Backend] = OrderedDict()
        self._reasons: Dict[Tuple[int, int], str] = {}  # timed auto: why, per size in _by_size
        self._weights_hash: Optional[str] = None
        self._segmented = False  # an image went to the backend (needs_build)
        self._host_buffers: Dict[str, torch.Tensor] = {}
        if kind in ("preset", "checkpoint"):
            model, meta = load_torch_weights(weights)
            self._model = model
        elif kind == "onnx":
            from swiftnet_ros.infer.metadata import read_onnx_metadata

            meta = read_onnx_metadata(weights)
        else:
            meta = self._engine_metadata(weights)
        self.model_name = str(meta["model_name"])
        self.class_names: List[str] = list(meta["class_names"])
        self.palette = as_palette(meta["palette"], len(self.class_names), weights)
        self.num_classes = len(self.class_names)
        self.precision = run_precision(rule, kind, self.precision, meta.get("precision"))
        if kind in ("onnx", "engine"):
            self._set_fixed_size(tuple(meta["input_size"]))
            check_file_precision(weights, kind, meta["precision"], self.precision, rule)
        self._build(kind)
        if self.input_size is not None:
            self.warm_up(warmup)

    # ------------------------------------------------------------------ construction
    def _set_fixed_size(self, size: Tuple[int, int]) -> None:
        if self.input_size is not None and tuple(self.input_size) != tuple(size):
            raise ValueError("{} has a fixed input size of {}x{} (WIDTHxHEIGHT); {}x{} was requested: "
                             "omit the size, or export the model at that size".format(
                                 self.weights, size[1], size[0], self.input_size[1], self.input_size[0]))
        self.input_size = (int(size[0]), int(size[1]))

    def _engine_metadata(self, path: str) -> dict:
        import json
        import os

        from swiftnet_ros.infer.metadata import decode_metadata, engine_metadata_path

        meta_path = engine_metadata_path(path)
        if not os.path.isfile(meta_path):
            raise FileNotFoundError("engine metadata {!r} not found; `swiftnet-ros build-engine` writes it "
                                    "next to the engine".format(meta_path))
        with open(meta_path) as f:
            return decode_metadata(json.load(f), meta_path)

    def _build(self, kind: str) -> None:
        """The backend now, or (fixed-size backends from a model, or a timed auto, size unknown) at the
        first image of each size."""
        cache_dir, force = self._engine_cache
        context = BuildContext(self.weights, kind, self.device, self.precision, model=self._model,
                               export=self._export, engine_cache_dir=cache_dir, force_engine_rebuild=force)

        def make(size: Optional[Tuple[int, int]]) -> Backend:
            return build_backend(self.backend_name, context, self._options, size)

        def decide(size: Tuple[int, int]) -> Backend:
            return self._decide(context, size)

        self._make_fixed = decide if self._timed else make
        if self.input_size is not None:
            self.backend = self._make_fixed(self.input_size)
        elif self._timed or backend_entry(self.backend_name).fixed_size:
            self._per_image_size = True
        else:
            self.backend = make(None)

    def _decide(self, context: BuildContext, size: Tuple[int, int]) -> Backend:
        """Timed auto: the faster of ``AUTO_CANDIDATES`` at ``size`` (the cached choice where there is
        one), built once; ``backend_name`` and ``backend_reason`` say which and why."""
        from swiftnet_ros.infer import autoselect
        from swiftnet_ros.infer.cache import weights_hash

        def build(name: str) -> Backend:  # as many threads for onnxruntime as torch has (cpu_threads)
            return build_backend(name, context, thread_options(name, torch.get_num_threads()), size)

        if self._weights_hash is None:
            self._weights_hash = weights_hash(self.weights, self._model)
        decision = autoselect.choose(build, self._model, self._weights_hash, size, self.precision,
                                     context.engine_cache_dir, context.force_engine_rebuild)
        self.backend_name, self.backend_reason = decision.name, decision.reason
        self._reasons[(int(size[0]), int(size[1]))] = decision.reason
        return decision.backend

    def _export(self, size: Tuple[int, int], opset: int = DEFAULT_OPSET, argmax: str = "host",
                fp16: Optional[bool] = None) -> bytes:
        from swiftnet_ros.infer.export import export_onnx

        fp16 = self.precision == "fp16" if fp16 is None else fp16
        return export_onnx(self._model, size, self.class_names, self.palette, opset=opset, fp16=fp16,
                           argmax=argmax, model_name=self.model_name)

    def _backend_for(self, size: Tuple[int, int]) -> Backend:
        """The backend; a fixed-size one built from the model runs each image at its own size: one
        graph (ONNX export, engine) per size, built at its first image, the last few kept."""
        self._segmented = True
        if not self._per_image_size:
            return self.backend
        size = (int(size[0]), int(size[1]))
        backend = self._by_size.pop(size, None)
        if backend is None:
            LOG.info("%s backend: building for %dx%d (WIDTHxHEIGHT), one per image size",
                     AUTO if self._timed else self.backend_name, size[1], size[0])
            backend = self._make_fixed(size)
            while len(self._by_size) >= MAX_SIZES_KEPT:
                self._reasons.pop(self._by_size.popitem(last=False)[0], None)
        elif self._timed:  # another size's choice may have been another backend
            self.backend_name, self.backend_reason = backend.name, self._reasons[size]
        self._by_size[size] = backend
        self.backend = backend
        return backend

    def warm_up(self, runs: int = 1) -> None:
        """Run ``runs`` forward passes on a blank image of the input size (needs a known input size)."""
        if self.input_size is None:
            raise ValueError("warm_up needs a known input size; pass input_size=(height, width)")
        blank = np.zeros((self.input_size[0], self.input_size[1], 3), np.uint8)
        for _ in range(runs):
            self.segment(blank)

    # ------------------------------------------------------------------ inference
    def segment(self, image: np.ndarray, rgb: bool = True, confidence: bool = False) -> SegmentationResult:
        """(H, W, 3) uint8 image (RGB, or BGR with rgb=False) -> labels at the chosen resolution + timings;
        with ``confidence`` also round(255 x max softmax probability) per label pixel (the backend's
        ``labels_confidence``: computed on the device, one byte per pixel comes back)."""
        check_image(image)
        start = time.perf_counter()
        size = self.input_size if self.input_size is not None else (image.shape[0], image.shape[1])
        x = image_to_batch(image, rgb, self.device, size, keep_uint8=self.device.type == "cuda")
        sync(self.device)
        t_pre = time.perf_counter()
        backend = self._backend_for(size)
        maps = list(backend.labels_confidence(x)) if confidence else [backend.labels(x)]
        sync(self.device)
        t_inf = time.perf_counter()
        if self.output_size == "input":
            maps = [resize_labels(m, image.shape[:2]) for m in maps]
        out = [self._to_host(name, m[0]) for name, m in zip(("labels", "confidence"), maps)]
        end = time.perf_counter()
        timings = {"preprocess": (t_pre - start) * 1e3, "inference": (t_inf - t_pre) * 1e3,
                   "postprocess": (end - t_inf) * 1e3, "total": (end - start) * 1e3}
        return SegmentationResult(out[0], timings, out[1] if confidence else None)

    def _to_host(self, name: str, pixels: torch.Tensor) -> np.ndarray:
        """A host copy of an (H, W) map (backends may reuse their output buffers); from CUDA through a
        reused pinned buffer per map (a direct DMA instead of a staged pageable copy)."""
        if pixels.device.type != "cuda":
            return pixels.numpy().copy()
        buffer = self._host_buffers.get(name)
        if buffer is None or buffer.shape != pixels.shape:
            buffer = self._host_buffers[name] = torch.empty(pixels.shape, dtype=pixels.dtype, pin_memory=True)
        buffer.copy_(pixels, non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return buffer.numpy().copy()

    def needs_build(self) -> bool:
        """True until the fixed-size backend (onnxruntime / tensorrt from a checkpoint, no input_size) is
        built for the first image's size, and before the first image of a torch backend that traces,
        compiles or captures a CUDA graph per input shape (without a warm-up at construction)."""
        if self.backend is None:
            return True
        options = getattr(self.backend, "options", None)
        return not self._segmented and isinstance(options, TorchOptions) and options.builds_per_shape()

    def describe(self) -> str:
        backend = self.backend.describe() if self.backend is not None else self.backend_name
        if self.input_size:
            size = "{}x{}".format(self.input_size[1], self.input_size[0])
        elif self._per_image_size and self._timed:
            size = "native size (the faster backend timed at the first image of each size)"
        elif self._per_image_size:
            size = "native size (one {} graph per image size, built at its first image)".format(
                self.backend_name)
        else:
            size = "native size"
        return "{} ({} classes) at {} via {}".format(self.model_name, self.num_classes, size, backend)

