"""PyTorch backend: eager model with inference-only rewrites, on CPU or CUDA.

Options (all selectable through ``Segmenter(..., backend_options={...})``):
    fuse:           single-scale models: build the inference-only FusedSwiftNet (fused.py): every BN
                    folded (the decoder's too), conv + ReLU and conv + add + ReLU as single cuDNN calls,
                    the normalisation one uint8 -> half kernel. Supersedes fold_bn.
    fold_bn:        fold every BatchNorm that directly and solely consumes a convolution's output into
                    that convolution (found by tracing one forward, so it is legal by construction:
                    the decoder's pre-activation BN-ReLU-Conv units are left alone).
    channels_last:  NHWC memory format (faster convolutions with oneDNN / cuDNN tensor cores).
    winograd:       CPU only: 3x3 stride-1 convolutions through NNPACK's Winograd transform (see
                    winograd.py); with channels_last, only the stem before them runs channels-last.
    cudnn_benchmark: let cuDNN pick the fastest algorithms for the input shape (CUDA only).
    cuda_graphs:    capture the whole forward + argmax as one CUDA graph for a fixed input shape and
                    replay it; a new shape is captured again (CUDA only).
    jit:            torch.jit.trace + freeze + optimize_for_inference per input shape (CPU: oneDNN).
    compile:        torch.compile (PyTorch >= 2.0 only; refused with a clear error on older PyTorch).
    compile_head:   torch.compile only the final resize + argmax (CUDA, PyTorch >= 2.0 with Triton): one
                    fused kernel reads the stride-4 scores and writes uint8 labels, instead of writing and
                    re-reading full-resolution class maps. Combines with fuse and cuda_graphs.
Precision "fp16" runs the model in half precision and is refused on CPU (PyTorch's CPU half
convolutions are slow or missing); use fp32 there.
"""

import copy
import importlib.util
import logging
import warnings
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from swiftnet_ros.infer.backend import Backend, check_precision
from swiftnet_ros.infer.fused import FusedSwiftNet, check_fusable, is_fusable
from swiftnet_ros.infer.postprocess import bilinear_argmax, nearest_argmax
from swiftnet_ros.infer.winograd import channels_last_stem, set_submodule, use_winograd

LOG = logging.getLogger(__name__)

TORCH_OPTIONS = ("fuse", "fold_bn", "channels_last", "winograd", "cudnn_benchmark", "cuda_graphs", "jit",
                 "compile", "compile_head")


def has_torch_compile() -> bool:
    """torch.compile exists from PyTorch 2.0; the Jetson TX2's PyTorch 1.10 has none."""
    return callable(getattr(torch, "compile", None))


def can_compile_for_cuda() -> bool:
    """torch.compile with its GPU code generator (Triton) installed."""
    return has_torch_compile() and importlib.util.find_spec("triton") is not None


def default_options(model: nn.Module, device: torch.device, chosen: Dict[str, bool]) -> Dict[str, bool]:
    """The fastest configuration measured for ``device`` (bench/results/gpu_notes.md), without
    overriding or contradicting what the caller ``chosen``.

    CUDA: replayed as a CUDA graph; single-scale models as the fused model compiled by torch.compile,
    the others (pyramid) BN-folded with a compiled head (where Triton is installed; without it, not
    compiled). CPU: NNPACK's Winograd convolutions where available.
    """
    from swiftnet_ros.infer.winograd import nnpack_available

    if device.type != "cuda":
        defaults = {"winograd": nnpack_available() and not chosen.get("fuse", False)}
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


def _count_uses(roots: List[object]) -> Dict[int, int]:
    """How many times each autograd node is consumed (edges into it) in the graph below ``roots``."""
    uses: Dict[int, int] = {}
    keep = []  # hold the nodes so that their ids stay unique during the walk
    stack = list(roots)
    for root in roots:
        uses[id(root)] = uses.get(id(root), 0) + 1
    seen = set(id(r) for r in roots)
    while stack:
        node = stack.pop()
        keep.append(node)
        for child, _ in getattr(node, "next_functions", ()):
            if child is None:
                continue
            uses[id(child)] = uses.get(id(child), 0) + 1
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return uses


def find_foldable_pairs(model: nn.Module, example: torch.Tensor) -> List[Tuple[str, str]]:
    """(conv name, bn name) pairs where the BN's input is exactly the conv's output and nothing else uses it.

    One forward is traced with autograd: a BN is foldable when its input's autograd node is the
    convolution's node, that node has exactly one consumer, and both modules run once per forward
    (a convolution shared between pyramid levels with separate BNs is not).
    """
    calls: Dict[str, int] = {}
    conv_node: Dict[str, object] = {}
    bn_input_node: Dict[str, object] = {}
    handles = []

    def conv_hook(name: str) -> Callable:
        def hook(module: nn.Module, inputs: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            conv_node[name] = output.grad_fn
        return hook

    def bn_hook(name: str) -> Callable:
        def hook(module: nn.Module, inputs: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            bn_input_node[name] = inputs[0].grad_fn
        return hook

    convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    bns = {n: m for n, m in model.named_modules()
           if isinstance(m, nn.BatchNorm2d) and m.track_running_stats and m.running_mean is not None}
    for name, module in convs.items():
        handles.append(module.register_forward_hook(conv_hook(name)))
    for name, module in bns.items():
        handles.append(module.register_forward_hook(bn_hook(name)))
    try:
        with torch.enable_grad():
            out = model(example.detach().clone().requires_grad_(True))
        outputs = out if isinstance(out, (tuple, list)) else [out]
        uses = _count_uses([o.grad_fn for o in outputs if o.grad_fn is not None])
    finally:
        for handle in handles:
            handle.remove()
    pairs = []
    for bn_name, node in bn_input_node.items():
        if node is None or calls.get(bn_name) != 1:
            continue
        for conv_name, cnode in conv_node.items():
            if cnode is node and calls.get(conv_name) == 1 and uses.get(id(node)) == 1 \
                    and convs[conv_name].out_channels == bns[bn_name].num_features:
                pairs.append((conv_name, bn_name))
    return pairs


def fold_batchnorm(model: nn.Module, example: torch.Tensor) -> List[Tuple[str, str]]:
    """Fold foldable conv -> BN pairs of an eval-mode model in place; returns the folded pairs."""
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (call model.eval() first)")
    pairs = find_foldable_pairs(model, example)
    modules = dict(model.named_modules())
    for conv_name, bn_name in pairs:
        fused = fuse_conv_bn_eval(modules[conv_name], modules[bn_name])
        set_submodule(model, conv_name, fused)
        set_submodule(model, bn_name, nn.Identity())
    return pairs


Postprocess = Callable[[torch.Tensor, Tuple[int, int], str], torch.Tensor]


def resize_argmax(logits: torch.Tensor, size: Tuple[int, int], mode: str) -> torch.Tensor:
    """Labels (N x H x W uint8) of the stride-4 logits resized to size=(H, W), as the model resizes them."""
    if (int(logits.shape[-2]), int(logits.shape[-1])) != tuple(size):
        if mode == "nearest":
            logits = F.interpolate(logits, size=size, mode="nearest")
        else:
            logits = F.interpolate(logits, size=size, mode=mode, align_corners=False)
    return logits.argmax(1).to(torch.uint8)


def compiled_head() -> Postprocess:
    """``resize_argmax`` compiled into one kernel, fed plane-contiguous (NCHW) scores: per class, the
    loads of neighbouring pixels are then coalesced (on an H100 at 2048x1024: 0.35 ms with NHWC
    scores, 0.07 ms with NCHW, bench/results/gpu_notes.md)."""
    compiled = torch.compile(resize_argmax, dynamic=False)

    def head(logits: torch.Tensor, size: Tuple[int, int], mode: str) -> torch.Tensor:
        return compiled(logits.contiguous(), size, mode)

    return head


class _LabelsHead(nn.Module):
    """Model + argmax as one module, so tracing, compiling and CUDA graphs cover the argmax too.

    For a SwiftNet on CPU (``sparse=True``) the labels come from the stride-4 logits without
    resizing every class map (postprocess.py: the same labels, 4x less work). Elsewhere the
    stride-4 logits are resized here, as inside the model, channels-last if asked, by
    ``postprocess`` (``resize_argmax``, or a compiled version of it: one fused kernel).
    """

    def __init__(self, model: nn.Module, channels_last: bool, sparse: bool,
                 postprocess: Postprocess = resize_argmax) -> None:
        super().__init__()
        self.model = model
        self.channels_last = channels_last
        self.sparse = sparse
        self.postprocess = postprocess
        self.mode = getattr(getattr(model, "config", None), "upsample", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode is None:
            return self.model(x).argmax(1).to(torch.uint8)
        logits = self.model(x, full_resolution=False)
        size = (int(x.shape[-2]), int(x.shape[-1]))
        if self.sparse:
            if self.mode == "nearest":
                return nearest_argmax(logits, size).to(torch.uint8)
            return bilinear_argmax(logits, size).to(torch.uint8)
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
    """Runs a SwiftNet nn.Module (never modified: a copy is optimised) on CPU or CUDA."""

    name = "torch"

    def __init__(self, model: nn.Module, device: torch.device, precision: str = "fp32",
                 fuse: bool = False, fold_bn: bool = True, channels_last: bool = True, winograd: bool = False,
                 cudnn_benchmark: bool = True, cuda_graphs: bool = False, jit: bool = False,
                 compile: bool = False, compile_head: bool = False) -> None:
        check_precision(precision, device)
        if cuda_graphs and device.type != "cuda":
            raise ValueError("cuda_graphs=True needs a CUDA device, got device {!r}".format(str(device)))
        if winograd and device.type != "cpu":
            raise ValueError("winograd=True is a CPU option (NNPACK), got device {!r}".format(str(device)))
        if compile and not has_torch_compile():
            raise ValueError("compile=True needs torch.compile (PyTorch >= 2.0); this is PyTorch {}"
                             .format(torch.__version__))
        if fuse and winograd:
            raise ValueError("choose one of fuse=True and winograd=True, not both")
        if fuse:
            check_fusable(model)
        if compile_head and (device.type != "cuda" or not has_torch_compile()):
            raise ValueError("compile_head=True needs a CUDA device and torch.compile (PyTorch >= 2.0)")
        if jit and compile:
            raise ValueError("choose one of jit=True and compile=True, not both")
        if jit and not hasattr(torch.jit, "optimize_for_inference"):
            raise ValueError("jit=True needs torch.jit.optimize_for_inference (PyTorch >= 1.9); this is "
                             "PyTorch {}".format(torch.__version__))
        num_classes = int(model.config.num_classes) if hasattr(model, "config") else -1
        super().__init__(device, precision, num_classes)
        model = copy.deepcopy(model).float().eval().cpu()  # rewritten on the CPU, then moved to the device
        for p in model.parameters():
            p.requires_grad_(False)
        self.folded: List[Tuple[str, str]] = []
        if fuse:
            model = FusedSwiftNet(model).eval()
        elif fold_bn:
            self.folded = fold_batchnorm(model, torch.zeros(1, 3, 64, 64))
        self.winograd: List[str] = []
        self.stem: List[str] = []
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if winograd:
            self.winograd = use_winograd(model)
            if channels_last:
                self.stem = channels_last_stem(model, torch.zeros(1, 3, 64, 64))
        else:
            model = model.to(memory_format=self.memory_format)
        model = model.to(device=device)
        if precision == "fp16":
            model = model.half()
        if device.type == "cuda" and cudnn_benchmark:
            torch.backends.cudnn.benchmark = True  # process-wide by PyTorch's design
        self.model = model
        on_cpu = device.type == "cpu"
        postprocess = compiled_head() if compile_head else resize_argmax
        self.head = _LabelsHead(model, channels_last and on_cpu, sparse=on_cpu, postprocess=postprocess)
        self.options = {"fuse": fuse, "fold_bn": fold_bn and not fuse, "channels_last": channels_last,
                        "winograd": winograd, "cudnn_benchmark": cudnn_benchmark, "cuda_graphs": cuda_graphs,
                        "jit": jit, "compile": compile, "compile_head": compile_head}
        self._traced: Dict[tuple, Callable] = {}
        self._compiled: Dict[str, Callable] = {}
        self._graphs = CudaGraphRunner(self._run_labels) if cuda_graphs else None

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.options["fuse"] and x.dtype == torch.uint8:
            pass  # the fused model converts uint8 itself, in the same kernel as the normalisation
        elif self.precision == "fp16":
            x = x.half()
        return x.contiguous(memory_format=self.memory_format)

    def _function(self, kind: str, x: torch.Tensor) -> Callable:
        """The callable for "logits" or "labels": eager, traced+frozen (per shape) or compiled."""
        module = self.head if kind == "labels" else self.model
        if self.options["jit"]:
            key = (kind, tuple(x.shape), x.dtype)
            if key not in self._traced:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # tracer: sizes become constants, as intended per shape
                    traced = torch.jit.trace(module, (x,), check_trace=False)
                    frozen = torch.jit.freeze(traced.eval())
                    self._traced[key] = torch.jit.optimize_for_inference(frozen)
            return self._traced[key]
        if self.options["compile"]:
            if kind not in self._compiled:
                self._compiled[kind] = torch.compile(module, dynamic=False)
            return self._compiled[kind]
        return module

    def _call(self, kind: str, x: torch.Tensor) -> torch.Tensor:
        """Run the callable for ``kind``; if torch.compile fails (no C compiler or Triton on this machine,
        an operator it cannot handle), say so once and go on without it: slower, but running."""
        function = self._function(kind, x)
        if not (self.options["compile"] or self.options["compile_head"]):
            return function(x)
        try:
            return function(x)
        except Exception as error:  # noqa: BLE001 - any compiler failure; eager below re-raises real errors
            LOG.warning("torch.compile failed (%s: %s); running without it",
                        type(error).__name__, str(error).strip().splitlines()[0][:200] if str(error) else "")
            self.options["compile"] = self.options["compile_head"] = False
            self.head.postprocess = resize_argmax
            self._compiled.clear()
            return self._function(kind, x)(x)

    def _run_labels(self, x: torch.Tensor) -> torch.Tensor:
        return self._call("labels", x)

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

    def describe(self) -> str:
        flags = [k for k, v in self.options.items() if v and k != "cudnn_benchmark"]
        return "torch {} on {} ({})".format(self.precision, self.device, ", ".join(flags) or "eager")
