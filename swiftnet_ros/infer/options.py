"""Each backend's options: one dataclass per backend, with defaults and what each switch does.

Plain Python (no torch), so that configuration code can name and check options without loading a
model. ``registry.py`` maps backend names to these classes; a backend takes its options as keyword
arguments and keeps the checked dataclass as ``backend.options``. A new option is one field here.
"""

from dataclasses import dataclass, fields
from typing import Any, List, Mapping, Optional, Tuple, Type, TypeVar

from swiftnet_ros.choices import INT8, PRECISIONS  # noqa: F401 - the precisions, named here too

HOST, IN_GRAPH, HOST_STRIDE4 = "host", "in_graph", "host_stride4"
ARGMAX_MODES = (HOST, IN_GRAPH, HOST_STRIDE4)
"""Where an ONNX export leaves the argmax. host: the graph outputs full-resolution logits, the backend
takes the argmax on its device (TensorRT on Jetson had trouble with ArgMax); in_graph: the graph ends
in ArgMax (int32 labels, no scores); host_stride4: the graph stops at the stride-4 logits and the
backend takes the exact argmax of their resize without resizing every class map (and resizes them as
the model does where scores are needed): the fastest measured CPU path (bench/results/cpu_notes.md)."""
MIN_OPSET = 11
DEFAULT_OPSET = 13  # TensorRT 8.2 (JetPack 4.6, Jetson TX2) supports no newer one
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")
DEFAULT_WORKSPACE_MB = 1024

Options = TypeVar("Options")


def option_names(cls: type) -> Tuple[str, ...]:
    """The options of an options dataclass, in declaration order."""
    return tuple(f.name for f in fields(cls))


def switch_names(cls: type) -> Tuple[str, ...]:
    """The on/off options (bool fields): what a bench token's ``+name`` / ``-name`` may set."""
    return tuple(f.name for f in fields(cls) if f.type is bool)


def make_options(cls: Type[Options], backend: str, values: Mapping[str, Any]) -> Options:
    """``cls(**values)``, but an unknown name is a ValueError naming it and the valid ones."""
    names = option_names(cls)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError("unknown {} backend option(s) {}; expected some of {}".format(
            backend, ", ".join(unknown), ", ".join(names)))
    return cls(**values)


def _check_switches(options: object, backend: str) -> None:
    for name in switch_names(type(options)):
        value = getattr(options, name)
        if not isinstance(value, bool):
            raise ValueError("{} backend option {} must be true or false, got {!r}"
                             .format(backend, name, value))


def check_export(opset: int, argmax: str) -> None:
    """The ONNX export's two choices: an opset the exporter and TensorRT handle, and where the argmax runs."""
    if argmax not in ARGMAX_MODES:
        raise ValueError("argmax {!r}: expected one of {}".format(argmax, ", ".join(ARGMAX_MODES)))
    if not isinstance(opset, int) or isinstance(opset, bool) or opset < MIN_OPSET:
        raise ValueError("opset {!r}: expected an integer >= {} (13 for TensorRT 8.2)"
                         .format(opset, MIN_OPSET))


@dataclass
class TorchOptions:
    """The torch backend's rewrites and execution modes (``backend_torch.py``; the rewrites: ``rewrites/``).

    These defaults are what ``TorchBackend`` does when told nothing; the Segmenter and the node first
    add the fastest measured choices for the model and device (``backend_torch.default_options``).
    """

    fuse: bool = False
    """single-scale models: the inference-only FusedSwiftNet (every BN folded, conv + add + ReLU as one
    cuDNN call, the normalisation one uint8 -> half kernel). Supersedes fold_bn."""
    fold_bn: bool = True
    """fold each BatchNorm that directly and solely consumes a convolution's output into it."""
    channels_last: bool = True
    """NHWC memory format (faster convolutions with oneDNN / cuDNN tensor cores)."""
    winograd: bool = False
    """CPU: 3x3 stride-1 convolutions through NNPACK's Winograd transform; with channels_last only the
    stem before them runs channels-last."""
    cudnn_benchmark: bool = True
    """CUDA: let cuDNN pick the fastest algorithms for the input shape (process-wide)."""
    cuda_graphs: bool = False
    """CUDA: capture forward + argmax as one CUDA graph per input shape and replay it."""
    jit: bool = False
    """torch.jit.trace + freeze + optimize_for_inference per input shape (CPU: oneDNN)."""
    compile: bool = False
    """torch.compile (PyTorch >= 2.0; refused on older PyTorch)."""
    compile_head: bool = False
    """CUDA, PyTorch >= 2.0 with Triton: compile only the final resize + argmax into one kernel that
    writes uint8 labels without writing full-resolution score maps."""

    def __post_init__(self) -> None:
        _check_switches(self, "torch")

    def enabled(self) -> List[str]:
        """The names of the switches that are on, in declaration order."""
        return [name for name in option_names(TorchOptions) if getattr(self, name)]

    def builds_per_shape(self) -> bool:
        """Whether the first call at each input shape traces, compiles or captures a CUDA graph before it
        runs (seconds; a minute or more for torch.compile on a GPU)."""
        return self.jit or self.compile or self.compile_head or self.cuda_graphs


@dataclass
class ExportOptions:
    """How a checkpoint is exported to ONNX before an exported-graph backend runs it (``export.py``).

    None: the export default (opset 13; argmax host_stride4 for onnxruntime on a CPU, else host).
    Refused for a file that is already exported (an .onnx or an engine).
    """

    opset: Optional[int] = None
    """ONNX opset (>= 11; 13 for TensorRT 8.2)."""
    argmax: Optional[str] = None
    """"host" (the graph outputs scores), "in_graph" (it ends in ArgMax: labels only) or "host_stride4"
    (it outputs the stride-4 scores; the backend resizes them or takes the argmax of their resize)."""

    def __post_init__(self) -> None:
        check_export(DEFAULT_OPSET if self.opset is None else self.opset,
                     ARGMAX_MODES[0] if self.argmax is None else self.argmax)


@dataclass
class OnnxRuntimeOptions(ExportOptions):
    """ONNX Runtime session settings (``backend_onnxruntime.py``), plus the export options."""

    threads: Optional[int] = None
    """intra-op threads (None: ONNX Runtime's default, all cores)."""
    optimization: str = "all"
    """graph optimisation level: disable, basic, extended or all."""
    providers: Optional[List[str]] = None
    """execution providers, best first (None: TensorRT, CUDA, CPU as available for the device)."""
    spinning: bool = False
    """let idle intra-op threads spin before they sleep (ONNX Runtime's own default); off: they sleep at
    once and leave the cores to the host-side argmax (off measured faster: bench/results/cpu_notes.md)."""

    def __post_init__(self) -> None:
        ExportOptions.__post_init__(self)
        _check_switches(self, "onnxruntime")
        if self.optimization not in OPTIMIZATION_LEVELS:
            raise ValueError("unknown optimization level {!r}; expected one of {}".format(
                self.optimization, ", ".join(OPTIMIZATION_LEVELS)))
        if self.threads is not None and (not isinstance(self.threads, int) or isinstance(self.threads, bool)
                                         or self.threads < 1):
            raise ValueError("threads must be a positive integer or None, got {!r}".format(self.threads))


@dataclass
class TensorRTOptions(ExportOptions):
    """TensorRT engine-build settings (``backend_tensorrt.py``), plus the export options."""

    workspace_mb: int = DEFAULT_WORKSPACE_MB
    """the builder's scratch memory limit in MiB."""
    timing_cache: Optional[str] = None
    """a file that keeps the builder's kernel timings between builds (faster rebuilds)."""

    def __post_init__(self) -> None:
        ExportOptions.__post_init__(self)
        if self.argmax == HOST_STRIDE4:
            raise ValueError("argmax {!r} is for onnxruntime; the tensorrt backend takes argmax {} or {}"
                             .format(HOST_STRIDE4, HOST, IN_GRAPH))
        mb = self.workspace_mb
        if not isinstance(mb, int) or isinstance(mb, bool) or mb < 1:
            raise ValueError("workspace_mb must be >= 1, got {!r}".format(self.workspace_mb))


EXPORT_OPTIONS = option_names(ExportOptions)
