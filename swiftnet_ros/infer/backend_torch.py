"""PyTorch backend: eager model with inference-only rewrites, on CPU or CUDA.

The options (``options.TorchOptions``: fuse, fold_bn, channels_last, winograd, cudnn_benchmark,
cuda_graphs, jit, compile, compile_head) choose which rewrites of ``rewrites/`` this backend
combines and how the result is run (eager, traced, compiled, replayed as a CUDA graph);
``default_options`` adds the fastest measured choices for the model and device.
Precision "fp16" runs the model in half precision and is refused on CPU (PyTorch's CPU half
convolutions are slow or missing); use fp32 there. Precision "bf16" runs weights and activations in
bfloat16 (oneDNN's bf16 convolutions on a CPU with AVX512-BF16 or AMX, channels-last; or a GPU with
bf16): measured faster than fp32 at 99.9% label agreement (bench/results/cpu_notes.md, "bf16").
The labels and the confidence come from the scores converted to float.
"""

import copy
import importlib.util
import logging
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from swiftnet_ros.choices import BF16, FP16, FP32
from swiftnet_ros.infer.backend import Backend, check_precision
from swiftnet_ros.infer.options import TorchOptions, make_options
from swiftnet_ros.infer.postprocess import (
    Postprocess,
    compiled_head,
    labels_and_confidence,
    resize_argmax,
    sparse_argmax,
)
from swiftnet_ros.infer.rewrites.fold_bn import fold_batchnorm
from swiftnet_ros.infer.rewrites.fused import FusedSwiftNet, check_fusable, is_fusable
from swiftnet_ros.infer.rewrites.winograd import channels_last_stem, nnpack_available, use_winograd
from swiftnet_ros.model.blocks import resize

LOG = logging.getLogger(__name__)


def has_torch_compile() -> bool:
    """torch.compile exists from PyTorch 2.0; the Jetson TX2's PyTorch 1.10 has none."""
    return callable(getattr(torch, "compile", None))


def can_compile_for_cuda() -> bool:
    """torch.compile with its GPU code generator (Triton) installed."""
    return has_torch_compile() and importlib.util.find_spec("triton") is not None


def default_options(model: nn.Module, device: torch.device, chosen: Dict[str, bool],
                    precision: str = FP32) -> Dict[str, bool]:
    """The fastest configuration measured for ``device`` (bench/results/gpu_notes.md), without
    overriding or contradicting what the caller ``chosen``.

    CUDA: replayed as a CUDA graph; single-scale models as the fused model compiled by torch.compile,
    the others (pyramid) BN-folded with a compiled head (where Triton is installed; without it, not
    compiled). CPU: NNPACK's Winograd convolutions where available, in fp32 (NNPACK has no bf16).
    """
    if device.type != "cuda":
        winograd = precision == FP32 and nnpack_available() and not chosen.get("fuse", False)
        defaults = {"winograd": winograd}
    else:
        defaults = {"cuda_graphs": True}
        fused = "fold_bn" not in chosen and is_fusable(model)
        if fused:
            defaults["fuse"] = True
        decided = chosen.get("jit", False) or "compile" in chosen or "compile_head" in chosen
        if not decided and can_compile_for_cuda():
            defaults["compile" if fused else "compile_head"] = True
    defaults.update(chosen)
    return defaults


_DTYPES = {FP32: torch.float32, FP16: torch.float16, BF16: torch.bfloat16}


class _LabelsHead(nn.Module):
    """Model + argmax as one module, so tracing, compiling and CUDA graphs cover the argmax too.

    For a SwiftNet on CPU (``sparse=True``) the labels come from the stride-4 logits without
    resizing every class map (postprocess.py: the same labels, 4x less work). Elsewhere the
    stride-4 logits are resized here, as inside the model, channels-last if asked, by
    ``postprocess`` (``resize_argmax``, or a compiled version of it: one fused kernel).
    With ``confidence`` it returns (labels, confidence) from the class maps resized as in the
    model (the confidence needs every class's score at every pixel, so no sparse shortcut).
    """

    def __init__(self, model: nn.Module, channels_last: bool, sparse: bool,
                 postprocess: Postprocess = resize_argmax, confidence: bool = False) -> None:
        super().__init__()
        self.model = model
        self.channels_last = channels_last
        self.sparse = sparse and not confidence
        self.postprocess = postprocess
        self.confidence = confidence
        self.mode = getattr(getattr(model, "config", None), "upsample", None)

    def forward(self, x: torch.Tensor) -> Any:
        if self.mode is None:
            scores = self.model(x)
            return labels_and_confidence(scores) if self.confidence else scores.argmax(1).to(torch.uint8)
        logits = self.model(x, full_resolution=False)
        size = (int(x.shape[-2]), int(x.shape[-1]))
        if self.confidence:
            return labels_and_confidence(resize(logits, size, self.mode))
        if self.sparse:
            return sparse_argmax(logits, size, self.mode)
        if self.channels_last:
            logits = logits.contiguous(memory_format=torch.channels_last)
        return self.postprocess(logits, size, self.mode)


class CudaGraphRunner:
    """Replays a captured CUDA graph of ``fn`` for one input shape; captures again when the shape changes.

    The returned tensor is a static buffer that the next call overwrites: copy what you keep.
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], warmup: int = 3) -> None:
        self.fn = fn
        self.warmup = warmup
        self.graph: Optional[torch.cuda.CUDAGraph] = None
        self.key: Optional[tuple] = None
        self.static_in: Optional[torch.Tensor] = None
        self.static_out: Optional[torch.Tensor] = None
        self.captures = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), x.dtype, x.device, x.is_contiguous(memory_format=torch.channels_last))
        if self.graph is None or key != self.key:
            self._capture(x)
            self.key = key
        self.static_in.copy_(x)
        self.graph.replay()
        return self.static_out

    def _capture(self, x: torch.Tensor) -> None:
        if self.graph is not None:
            LOG.info("input shape changed to %s: capturing a new CUDA graph", tuple(x.shape))
        self.graph = None
        self.static_in = x.clone()
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):  # warm-up outside the graph (cuDNN autotuning, allocations)
            for _ in range(self.warmup):
                self.fn(self.static_in)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.static_out = self.fn(self.static_in)
        self.graph = graph
        self.captures += 1


class TorchBackend(Backend):
    """Runs a SwiftNet nn.Module (never modified: a copy is rewritten) on CPU or CUDA.

    ``options``: ``TorchOptions`` fields as keywords (e.g. ``fuse=True``); kept, checked, as ``self.options``.
    """

    name = "torch"

    def __init__(self, model: nn.Module, device: torch.device, precision: str = "fp32",
                 **options: bool) -> None:
        check_precision(precision, device)
        opts = make_options(TorchOptions, self.name, options)
        if opts.cuda_graphs and device.type != "cuda":
            raise ValueError("cuda_graphs=True needs a CUDA device, got device {!r}".format(str(device)))
        if opts.winograd and device.type != "cpu":
            raise ValueError("winograd=True is a CPU option (NNPACK), got device {!r}".format(str(device)))
        if opts.winograd and precision != FP32:
            raise ValueError("winograd=True runs NNPACK's fp32 convolutions, not precision {!r}; use "
                             "winograd=False".format(precision))
        if opts.jit and opts.compile:  # before the feature checks: the same usage error on every PyTorch
            raise ValueError("choose one of jit=True and compile=True, not both")
        if opts.compile and not has_torch_compile():
            raise ValueError("compile=True needs torch.compile (PyTorch >= 2.0); this is PyTorch {}"
                             .format(torch.__version__))
        if opts.fuse and opts.winograd:
            raise ValueError("choose one of fuse=True and winograd=True, not both")
        if opts.fuse:
            check_fusable(model)
            opts.fold_bn = False  # the fused model folds every BN itself
        if opts.compile_head and (device.type != "cuda" or not has_torch_compile()):
            raise ValueError("compile_head=True needs a CUDA device and torch.compile (PyTorch >= 2.0)")
        if opts.jit and not hasattr(torch.jit, "optimize_for_inference"):
            raise ValueError("jit=True needs torch.jit.optimize_for_inference (PyTorch >= 1.9); this is "
                             "PyTorch {}".format(torch.__version__))
        num_classes = int(model.config.num_classes) if hasattr(model, "config") else -1
        super().__init__(device, precision, num_classes)
        self.options = opts
        model = copy.deepcopy(model).float().eval().cpu()  # rewritten on the CPU, then moved to the device
        for p in model.parameters():
            p.requires_grad_(False)
        self.folded: List[Tuple[str, str]] = []
        if opts.fuse:
            model = FusedSwiftNet(model).eval()
        elif opts.fold_bn:
            self.folded = fold_batchnorm(model, torch.zeros(1, 3, 64, 64))
        self.winograd: List[str] = []
        self.stem: List[str] = []
        self.memory_format = torch.channels_last if opts.channels_last else torch.contiguous_format
        if opts.winograd:
            self.winograd = use_winograd(model)
            if opts.channels_last:
                self.stem = channels_last_stem(model, torch.zeros(1, 3, 64, 64))
        else:
            model = model.to(memory_format=self.memory_format)
        model = model.to(device=device, dtype=_DTYPES[precision])  # the memory format is kept
        if device.type == "cuda" and opts.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True  # process-wide by PyTorch's design
        self.model = model
        on_cpu = device.type == "cpu"
        postprocess = compiled_head() if opts.compile_head else resize_argmax
        self.head = _LabelsHead(model, opts.channels_last and on_cpu, sparse=on_cpu, postprocess=postprocess)
        self.confidence_head = _LabelsHead(model, opts.channels_last and on_cpu, sparse=False,
                                           confidence=True)
        self._traced: Dict[tuple, Callable] = {}
        self._compiled: Dict[str, Callable] = {}
        self._graphs = CudaGraphRunner(self._run_labels) if opts.cuda_graphs else None
        self._confidence_graphs = CudaGraphRunner(self._run_confidence) if opts.cuda_graphs else None

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.options.fuse and x.dtype == torch.uint8:
            pass  # the fused model converts uint8 itself, in the same kernel as the normalisation
        elif self.precision != FP32:
            x = x.to(_DTYPES[self.precision])
        return x.contiguous(memory_format=self.memory_format)

    def _function(self, kind: str, x: torch.Tensor) -> Callable:
        """The callable for "logits", "labels" or "confidence" (labels and confidence): eager,
        traced+frozen (per shape) or compiled."""
        module = {"labels": self.head, "confidence": self.confidence_head}.get(kind, self.model)
        if self.options.jit:
            key = (kind, tuple(x.shape), x.dtype)
            if key not in self._traced:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # tracer: sizes become constants, as intended per shape
                    traced = torch.jit.trace(module, (x,), check_trace=False)
                    frozen = torch.jit.freeze(traced.eval())
                    self._traced[key] = torch.jit.optimize_for_inference(frozen)
            return self._traced[key]
        if self.options.compile:
            if kind not in self._compiled:
                self._compiled[kind] = torch.compile(module, dynamic=False)
            return self._compiled[kind]
        return module

    def _call(self, kind: str, x: torch.Tensor) -> torch.Tensor:
        """Run the callable for ``kind``; if torch.compile fails (no C compiler or Triton on this machine,
        an operator it cannot handle), say so once and go on without it: slower, but running."""
        function = self._function(kind, x)
        if not (self.options.compile or self.options.compile_head):
            return function(x)
        try:
            return function(x)
        except Exception as error:  # noqa: BLE001 - any compiler failure; eager below re-raises real errors
            LOG.warning("torch.compile failed (%s: %s); running without it",
                        type(error).__name__, str(error).strip().splitlines()[0][:200] if str(error) else "")
            self.options.compile = self.options.compile_head = False
            self.head.postprocess = resize_argmax
            self._compiled.clear()
            return self._function(kind, x)(x)

    def _run_labels(self, x: torch.Tensor) -> torch.Tensor:
        return self._call("labels", x)

    def _run_confidence(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self._call("confidence", x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self._prepare(x)
        with torch.no_grad():
            return self._call("logits", x).float()

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self._prepare(x)
        with torch.no_grad():
            if self._graphs is not None:
                return self._graphs(x)
            return self._run_labels(x)

    def labels_confidence(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        self.check_input(x)
        x = self._prepare(x)
        with torch.no_grad():
            if self._confidence_graphs is not None:
                return self._confidence_graphs(x)
            return self._run_confidence(x)

    def describe(self) -> str:
        flags = [name for name in self.options.enabled() if name != "cudnn_benchmark"]
        return "torch {} on {} ({})".format(self.precision, self.device, ", ".join(flags) or "eager")


class TorchModule(nn.Module):
    """A model run by the torch backend at ``precision``, as a module: a batch of RGB 0-255 images ->
    float class scores. Code written for a model (evaluation) then measures what the node runs at
    that precision; ``config`` is the model's."""

    def __init__(self, model: nn.Module, device: torch.device, precision: str) -> None:
        super().__init__()
        self.backend = TorchBackend(model, device, precision)
        self.config = model.config

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backend.logits(images)
