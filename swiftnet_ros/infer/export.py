"""Export SwiftNet to a self-describing ONNX file (static 1 x 3 x H x W input, RGB 0-255).

Opset 13 is the default because TensorRT 8.2 (JetPack 4.6, Jetson TX2) supports no newer one.
The torch >= 2.5 default exporter (dynamo) needs onnxscript and emits newer opsets, so the
TorchScript exporter is asked for explicitly where ``torch.onnx.export`` has a ``dynamo`` switch.
``argmax`` (``options.ARGMAX_MODES``) says where the graph ends: "host" outputs float logits
(1 x C x H x W) and leaves the argmax to the runtime (TensorRT 7/8 on Jetson had trouble with
ArgMax, hence the choice); "in_graph" ends in ArgMax -> int32 labels (1 x H x W); "host_stride4"
outputs the stride-4 logits (1 x C x h x w, before the model's final resize), which the backend
resizes, or takes the exact argmax of their resize from (``postprocess.py``), on its device.
"""

import copy
import inspect
import io
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from swiftnet_ros.files import write_bytes_atomic
from swiftnet_ros.infer.metadata import LABELS, LOGITS, LOGITS_STRIDE4, encode_metadata, set_onnx_metadata
from swiftnet_ros.infer.options import DEFAULT_OPSET, HOST, HOST_STRIDE4, IN_GRAPH, check_export

OUTPUT_OF_ARGMAX = {HOST: LOGITS, IN_GRAPH: LABELS, HOST_STRIDE4: LOGITS_STRIDE4}
"""The graph output (metadata ``output``, also the output tensor's name) each argmax mode exports."""


class _ExportWrapper(nn.Module):
    def __init__(self, model: nn.Module, output: str) -> None:
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x, full_resolution=False) if self.output == LOGITS_STRIDE4 else self.model(x)
        if self.output == LABELS:
            return logits.argmax(1).to(torch.int32)
        return logits


def check_input_size(input_size: Sequence[int]) -> Tuple[int, int]:
    try:
        height, width = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise ValueError("input_size must be (height, width), got {!r}".format(input_size)) from None
    if height < 1 or width < 1:
        raise ValueError("input_size must be positive (height, width), got {!r}".format(tuple(input_size)))
    return height, width


def torchscript_exporter() -> dict:
    """``dynamo=False`` where torch.onnx.export has that switch; PyTorch 1.10 (the Jetson TX2's) has
    only the TorchScript exporter and no switch."""
    return {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def cpu_has_fp16_kernels() -> bool:
    """Whether this PyTorch runs the half-precision CPU kernels a SwiftNet forward needs (3x3
    convolution, bicubic resize): PyTorch 1.10 (the Jetson TX2's) has neither."""
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float16)
    try:
        torch.nn.functional.conv2d(x, torch.zeros(1, 1, 3, 3, dtype=torch.float16))
        torch.nn.functional.interpolate(x, size=(2, 2), mode="bicubic", align_corners=False)
    except RuntimeError:
        return False
    return True


def export_onnx(model: nn.Module, input_size: Sequence[int], class_names: List[str], palette: object,
                path: Optional[str] = None, opset: int = DEFAULT_OPSET, fp16: bool = False,
                argmax: str = HOST, model_name: Optional[str] = None) -> bytes:
    """Export ``model`` at input_size = (height, width); returns the ONNX bytes and writes them to ``path``.

    The graph is checked with onnx.checker and carries class names, palette, input size, upsample
    mode, output kind, precision and the model config as metadata. ``path`` is written to a
    temporary file and renamed, so an interrupted export leaves nothing behind.
    """
    import onnx

    height, width = check_input_size(input_size)
    check_export(opset, argmax)
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError("expected a SwiftNet model with a .config, got {}".format(type(model).__name__))
    palette_list = np.asarray(palette).astype(int).tolist()
    device = torch.device("cuda" if fp16 and torch.cuda.is_available() else "cpu")
    if fp16 and device.type == "cpu" and not cpu_has_fp16_kernels():
        raise ValueError("fp16 export traces the model in half precision, which needs CUDA or half-precision "
                         "CPU kernels; PyTorch {} has none on the CPU: export fp32 (a TensorRT build with "
                         "fp16 makes an fp16 engine from it)".format(torch.__version__))
    dtype = torch.float16 if fp16 else torch.float32
    output_name = OUTPUT_OF_ARGMAX[argmax]
    # the wrapper in eval mode too: PyTorch 1.10's export restores the wrapper's mode on every submodule
    module = _ExportWrapper(copy.deepcopy(model).to(device=device, dtype=dtype), output_name).eval()
    generator = torch.Generator().manual_seed(0)
    dummy = (torch.rand(1, 3, height, width, generator=generator) * 255).to(device=device, dtype=dtype)
    kwargs = torchscript_exporter()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings say nothing actionable here
        with torch.no_grad():
            torch.onnx.export(module, (dummy,), buffer, opset_version=opset, input_names=["image"],
                              output_names=[output_name], do_constant_folding=True, **kwargs)
    proto = onnx.load_from_string(buffer.getvalue())
    output = proto.graph.output[0].type.tensor_type.shape
    if any(d.dim_value <= 0 for d in output.dim):  # PyTorch 1.10's exporter leaves them symbolic
        with torch.no_grad():
            static = list(module(dummy).shape)  # the stride-4 size is the encoder's rounding
        del output.dim[:]
        for size in static:
            output.dim.add().dim_value = size
    props = encode_metadata(model_name or config.name, class_names, palette_list, (height, width),
                            config.upsample, output_name, "fp16" if fp16 else "fp32", config.to_dict())
    set_onnx_metadata(proto, props)
    proto.producer_name = "swiftnet_ros"
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if path is not None:
        write_bytes_atomic(path, data)
    return data
