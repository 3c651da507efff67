"""Feature checks that keep the run-time path working on PyTorch 1.10 (the Jetson TX2's), tested on
both stacks: the probe agrees with what the model really does, and the refusal is one clear line.
Runs on Python 3.6 (no newer syntax)."""

import warnings

import pytest
import torch

from swiftnet_ros.infer import export
from swiftnet_ros.infer.segmenter import resize_labels
from swiftnet_ros.model import build_model


@pytest.mark.parametrize("preset", ["mnv2", "mnv2-pyramid"])  # convolutions; the pyramid's bicubic resize
def test_cpu_fp16_probe_agrees_with_a_half_precision_forward(preset):
    model = build_model(preset, num_classes=3).eval().half()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, 32, 64, dtype=torch.float16))
        ran = True
    except RuntimeError:  # PyTorch 1.10: "... not implemented for 'Half'"
        ran = False
    assert export.cpu_has_fp16_kernels() == ran


def test_fp16_export_without_cpu_kernels_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(export, "cpu_has_fp16_kernels", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = build_model("mnv2", num_classes=3).eval()
    refusal = r"^fp16 export .* PyTorch \S+ has none on the CPU: export fp32"
    with pytest.raises(ValueError, match=refusal) as error:
        export.export_onnx(model, (32, 64), ["a", "b", "c"], [[0, 0, 0]] * 3, fp16=True)
    assert "\n" not in str(error.value)


def test_label_resizing_warns_on_no_pytorch():
    """PyTorch 1.10 warns at a tensor // (its meaning changed later): the node would log it per process."""
    labels = torch.arange(12, dtype=torch.uint8).reshape(1, 3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resized = resize_labels(labels, (6, 8))
    assert torch.equal(resized, labels.repeat_interleave(2, 1).repeat_interleave(2, 2))
