"""ONNX Runtime backend: CPU here; the CUDA and TensorRT execution providers when they are available.

Inputs and outputs are bound with I/O binding straight to torch tensors on the backend's device,
so nothing is copied through numpy and the argmax runs on the device that ran the model. A graph
that stops at the stride-4 logits (metadata output ``logits_stride4``) gets its resize and argmax
there too (``StaticGraphBackend``).
"""

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch

from swiftnet_ros.infer.backend import StaticGraphBackend, check_precision
from swiftnet_ros.infer.metadata import LABELS, stride4_upsample
from swiftnet_ros.infer.options import INT8, OnnxRuntimeOptions, make_options

SPINNING_KEY = "session.intra_op.allow_spinning"  # ONNX Runtime >= 1.8's session config entry

_ONNX_TO_TORCH = {
    "tensor(float)": torch.float32,
    "tensor(float16)": torch.float16,
    "tensor(int64)": torch.int64,
    "tensor(int32)": torch.int32,
    "tensor(uint8)": torch.uint8,
}
_TORCH_TO_NUMPY = {torch.float32: np.float32, torch.float16: np.float16, torch.int64: np.int64,
                   torch.int32: np.int32, torch.uint8: np.uint8}


def select_providers(available: Sequence[str], device: torch.device) -> List[str]:
    """Execution providers to ask for, best first: TensorRT, CUDA, then CPU as the fallback for odd ops."""
    if device.type == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in available:
        raise ValueError("device {!r} needs onnxruntime's CUDAExecutionProvider, but this onnxruntime has "
                         "only {}; install onnxruntime-gpu or use device='cpu'"
                         .format(str(device), list(available)))
    wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in wanted if p in available]


def _provider_options(providers: List[str], device: torch.device) -> List[dict]:
    index = device.index or 0
    options = []
    for p in providers:
        gpu = p in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
        options.append({"device_id": index} if gpu else {})
    return options


def _static_shape(shape: Sequence[object]) -> Optional[Tuple[int, ...]]:
    """The shape if every dimension is a fixed integer, else None (dynamic axes)."""
    if all(isinstance(d, int) and d > 0 for d in shape):
        return tuple(int(d) for d in shape)
    return None


class OnnxRuntimeBackend(StaticGraphBackend):
    """Runs an ONNX model (path or bytes) with onnxruntime; ``options``: ``OnnxRuntimeOptions`` fields
    (threads, optimization, providers, spinning; its export options concern the registry's export, not
    this). How the output is read (logits, labels, stride-4 logits) comes from the model's metadata;
    a plain ONNX file without it is taken by its output's type: integers are labels, floats scores."""

    name = "onnxruntime"
    graph_kind = "ONNX model"

    def __init__(self, model: object, device: torch.device, precision: str = "fp32", **options: Any) -> None:
        import onnxruntime as ort

        check_precision(precision, device)
        self.options = make_options(OnnxRuntimeOptions, self.name, options)
        threads, optimization, providers = (self.options.threads, self.options.optimization,
                                            self.options.providers)
        session_options = ort.SessionOptions()
        session_options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[optimization]
        if threads is not None:
            session_options.intra_op_num_threads = threads
        session_options.inter_op_num_threads = 1
        session_options.log_severity_level = 3  # errors: not a warning per constant the optimiser folds
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session_options.add_session_config_entry(SPINNING_KEY, "1" if self.options.spinning else "0")
        if providers is None:
            providers = select_providers(ort.get_available_providers(), device)
        source = model if isinstance(model, str) else bytes(model)
        session = ort.InferenceSession(source, sess_options=session_options, providers=providers,
                                       provider_options=_provider_options(providers, device))
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError("expected an ONNX model with one input and one output, got {} and {}".format(
                len(inputs), len(outputs)))
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.input_dtype = _ONNX_TO_TORCH.get(inputs[0].type)
        self.output_dtype = _ONNX_TO_TORCH.get(outputs[0].type)
        if self.input_dtype not in (torch.float32, torch.float16) or self.output_dtype is None:
            raise ValueError("unsupported ONNX input/output types {} / {}"
                             .format(inputs[0].type, outputs[0].type))
        model_precision = "fp16" if self.input_dtype == torch.float16 else "fp32"
        if session.get_modelmeta().custom_metadata_map.get("precision") == INT8:
            model_precision = INT8  # QDQ: fp32 input, int8 inside
        if INT8 in (model_precision, precision) and model_precision != precision:
            raise ValueError("the ONNX model is {} but precision {!r} was requested; int8 models are made by "
                             "`swiftnet-ros quantize` and run with precision 'int8'"
                             .format(model_precision, precision))
        if model_precision != precision:
            raise ValueError("the ONNX model takes {} input but precision {!r} was requested; export it "
                             "with{} --fp16".format(model_precision, precision,
                                                    "" if precision == "fp16" else "out"))
        in_shape = _static_shape(inputs[0].shape)
        self.out_shape = _static_shape(outputs[0].shape)
        outputs_labels = self.output_dtype in (torch.int64, torch.int32, torch.uint8)
        self.metadata = dict(session.get_modelmeta().custom_metadata_map)
        upsample = stride4_upsample(self.metadata)
        if upsample is not None and (outputs_labels or len(outputs[0].shape) != 4):
            raise ValueError("the ONNX model's metadata says it outputs stride-4 logits, but its output is "
                             "{} of shape {}; export it again".format(outputs[0].type, outputs[0].shape))
        if outputs_labels:
            num_classes = -1
        else:
            channels = outputs[0].shape[1] if len(outputs[0].shape) == 4 else None
            num_classes = channels if isinstance(channels, int) else -1
        fixed = (in_shape[2], in_shape[3]) if in_shape is not None else None
        super().__init__(device, precision, num_classes, fixed_size=fixed, outputs_labels=outputs_labels,
                         upsample=upsample)
        self.session = session
        self.providers = session.get_providers()
        self._binding = session.io_binding() if in_shape is not None and self.out_shape is not None else None
        self._out: Optional[torch.Tensor] = None

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.to(self.input_dtype).contiguous()
        if self._binding is None or x.shape[0] != 1:
            feed = {self.input_name: x.cpu().numpy()}
            return torch.from_numpy(self.session.run([self.output_name], feed)[0]).to(self.device)
        device_type = "cuda" if self.device.type == "cuda" else "cpu"
        device_id = self.device.index or 0
        if self._out is None:
            self._out = torch.empty(self.out_shape, dtype=self.output_dtype, device=self.device)
        binding = self._binding
        binding.bind_input(self.input_name, device_type, device_id, _TORCH_TO_NUMPY[self.input_dtype],
                           list(x.shape), x.data_ptr())
        binding.bind_output(self.output_name, device_type, device_id, _TORCH_TO_NUMPY[self.output_dtype],
                            list(self._out.shape), self._out.data_ptr())
        if self.device.type == "cuda":
            # ORT runs on its own stream: the input must be written before it reads it
            torch.cuda.current_stream(self.device).synchronize()
        self.session.run_with_iobinding(binding)
        return self._out

    def describe(self) -> str:
        extras = [] if self.options.spinning else ["no spinning"]
        if self.upsample is not None:
            extras.append("stride-4 logits, exact {} argmax".format(self.upsample))
        return "onnxruntime {} ({})".format(self.precision, ", ".join(self.providers + extras))


class OnnxModule(torch.nn.Module):
    """An exported ONNX file (fp32, fp16 or int8) as a module: a batch of RGB 0-255 images -> class
    scores, one image at a time, so that code written for a model (evaluation) runs it unchanged.
    ``config.name`` and ``meta`` (class names, palette, input size, precision) come from its metadata."""

    def __init__(self, path: str, threads: Optional[int] = None) -> None:
        from types import SimpleNamespace

        from swiftnet_ros.infer.metadata import read_onnx_metadata

        super().__init__()
        self.meta = read_onnx_metadata(path)
        if self.meta["output"] == LABELS:
            raise ValueError("{} ends in an argmax (exported with --argmax in_graph): evaluation needs class "
                             "scores; export it with --argmax host".format(path))
        self.backend = OnnxRuntimeBackend(path, torch.device("cpu"), self.meta["precision"], threads=threads)
        self.config = SimpleNamespace(**dict(self.meta["config"], name=self.meta["model_name"]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.backend.logits(images[i:i + 1].cpu()) for i in range(images.shape[0])])
