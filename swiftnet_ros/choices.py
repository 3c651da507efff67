"""The words that say how a model runs: its precision, its backend and its device.

Plain Python without torch, outside ``infer`` and ``model`` (whose ``__init__`` loads torch), so
that the node's parameters (``ros/params.py``) and the command line check a value in milliseconds,
before torch loads. What each backend and device can run stays in ``infer``
(``registry.run_precision``, ``backend.check_precision``).
"""

import re

FP32 = "fp32"
FP16 = "fp16"
BF16 = "bf16"
INT8 = "int8"
FLOAT_PRECISIONS = (FP32, FP16, BF16)
"""What a checkpoint runs at: fp16 on a GPU; bf16 on a CPU with AVX512-BF16 or AMX, or a GPU with
bf16, on the torch backend only. Also the choices of the model config's deployment hint."""
PRECISIONS = FLOAT_PRECISIONS + (INT8,)
"""What inference runs at; int8 is an int8 ONNX file from ``swiftnet-ros quantize``, run by ONNX
Runtime (its input is fp32, so precision fp32 runs it too)."""

AUTO = "auto"
TORCH = "torch"
ONNXRUNTIME = "onnxruntime"
TENSORRT = "tensorrt"
BACKENDS = (AUTO, TORCH, ONNXRUNTIME, TENSORRT)
"""What a user may ask for: "auto" (``registry.choose_backend``) or a backend; ``infer/registry.py``
holds one entry (options, factory) per backend name."""

DEVICE_NAMES = "auto, cpu, cuda or cuda:N"


def is_device_name(name: str) -> bool:
    """A device word this package takes (whether that device exists here is
    ``infer.backend.resolve_device``'s question)."""
    return isinstance(name, str) and re.match(r"^(auto|cpu|cuda(:\d+)?)$", name) is not None
