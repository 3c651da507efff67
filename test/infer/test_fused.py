"""The fused inference model computes the same logits as the SwiftNet it was built from (CPU, fp32)."""

import pytest
import torch
import torch.nn as nn

from swiftnet_ros.infer.backend_torch import TorchBackend, default_options, has_torch_compile
from swiftnet_ros.infer.postprocess import compiled_head, resize_argmax
from swiftnet_ros.infer.rewrites.fused import FusedSwiftNet, PreActConv1x1, check_fusable
from swiftnet_ros.model import build_model
from swiftnet_ros.model.blocks import BNReLUConv

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def trained_like(preset: str, seed: int = 0, negative_scales: bool = False, **overrides: object) -> nn.Module:
    """A model whose BatchNorms hold non-trivial statistics, as a trained one does."""
    torch.manual_seed(seed)
    model = build_model(preset, num_classes=7, **overrides)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
            if negative_scales:
                m.weight.data[: n // 4] *= -1
    return model.eval()


def image(seed: int, size: tuple = (64, 96)) -> torch.Tensor:
    return torch.randint(0, 256, (1, 3) + size, generator=torch.Generator().manual_seed(seed)).float()


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("preset,overrides", [
    ("rn18", {}), ("mnv2", {}), ("rn18", {"blend": "separable"}), ("rn18", {"blend": "grouped"}),
    ("rn18", {"blend": "1x1", "upsample": "nearest"}), ("rn18", {"logits_kernel": 3}),
])
def test_fused_logits_equal_the_model(preset: str, overrides: dict) -> None:
    model = trained_like(preset, **overrides)
    fused = FusedSwiftNet(model).eval()
    x = image(1)
    with torch.no_grad():
        expected = model(x, full_resolution=False)
        assert relative_error(fused(x, full_resolution=False), expected) < 1e-5
        assert relative_error(fused(x), model(x)) < 1e-5
        # uint8 input straight from the camera gives the same logits
        assert relative_error(fused(x.to(torch.uint8), full_resolution=False), expected) < 1e-5
        # odd sizes (SPP grids that do not divide, resizes that round)
        y = image(2, (37, 83))
        assert relative_error(fused(y), model(y)) < 1e-5


def test_negative_bn_scales_use_the_two_kernel_form() -> None:
    model = trained_like("rn18", negative_scales=True)
    fused = FusedSwiftNet(model).eval()
    units = [m for m in fused.modules() if isinstance(m, PreActConv1x1)]
    assert units and not any(u.use_max for u in units)
    x = image(3)
    with torch.no_grad():
        assert relative_error(fused(x), model(x)) < 1e-5
    positive = FusedSwiftNet(trained_like("rn18")).eval()
    assert all(u.use_max for u in positive.modules() if isinstance(u, PreActConv1x1))


def test_preact_unit_is_exact_for_positive_scales() -> None:
    torch.manual_seed(0)
    unit = BNReLUConv(8, 5, 1, bias=True).eval()
    unit.norm.running_mean.uniform_(-1, 1)
    unit.norm.weight.data.uniform_(0.2, 2)
    fused = PreActConv1x1(unit, relu=True)
    x, add = torch.randn(2, 8, 5, 7), torch.randn(2, 5, 5, 7)
    with torch.no_grad():
        assert relative_error(fused(x, add), torch.relu(unit(x) + add)) < 1e-6
    with pytest.raises(ValueError, match="1x1"):
        PreActConv1x1(BNReLUConv(8, 5, 3))


@pytest.mark.parametrize("preset,overrides,match", [
    ("rn18-pyramid", {}, "pyramid"), ("rn18", {"blend": "inverted_residual"}, "blend"),
])
def test_unsupported_models_are_refused(preset: str, overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_fusable(build_model(preset, **overrides))
    with pytest.raises(ValueError, match=match):
        TorchBackend(build_model(preset, **overrides), torch.device("cpu"), fuse=True)


def test_original_model_is_untouched_and_labels_agree() -> None:
    model = trained_like("rn18")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    backend = TorchBackend(model, torch.device("cpu"), fuse=True)
    plain = TorchBackend(model, torch.device("cpu"), fold_bn=False, channels_last=False)
    x = image(4)
    assert float((backend.labels(x) == plain.labels(x)).float().mean()) > 0.999
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert "fuse" in backend.describe()


def test_default_options_pick_the_measured_fastest_configuration(monkeypatch) -> None:
    import swiftnet_ros.infer.backend_torch as backend_torch

    cuda = torch.device("cuda")
    rn18, pyramid = build_model("rn18"), build_model("rn18-pyramid")
    monkeypatch.setattr(backend_torch, "can_compile_for_cuda", lambda: True)
    assert default_options(rn18, cuda, {}) == {"cuda_graphs": True, "fuse": True, "compile": True}
    assert default_options(pyramid, cuda, {}) == {"cuda_graphs": True, "compile_head": True}
    # what the caller chose wins, and defaults never contradict it
    assert default_options(rn18, cuda, {"fold_bn": True})["fold_bn"] and "fuse" not in default_options(
        rn18, cuda, {"fold_bn": True})
    assert "compile" not in default_options(rn18, cuda, {"jit": True})
    assert "compile" not in default_options(rn18, cuda, {"compile_head": True})
    assert "compile_head" not in default_options(pyramid, cuda, {"compile": False})
    assert default_options(rn18, cuda, {"cuda_graphs": False})["cuda_graphs"] is False
    monkeypatch.setattr(backend_torch, "can_compile_for_cuda", lambda: False)  # PyTorch 1.10 / no Triton
    assert default_options(rn18, cuda, {}) == {"cuda_graphs": True, "fuse": True}
    cpu = default_options(rn18, torch.device("cpu"), {})
    assert set(cpu) == {"winograd"}
    assert default_options(rn18, torch.device("cpu"), {"fuse": True})["winograd"] is False


def test_a_failing_compiler_falls_back_to_eager_with_one_warning(monkeypatch, caplog) -> None:
    def broken_compile(module, **kwargs):
        def run(*args):
            raise RuntimeError("no C compiler found\nmore detail")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile, raising=False)  # PyTorch 1.10 has none
    model = trained_like("rn18")
    backend = TorchBackend(model, torch.device("cpu"), fuse=True, compile=True)
    x = image(5).to(torch.uint8)
    with caplog.at_level("WARNING"):
        labels = backend.labels(x)
        again = backend.labels(x)
    eager = TorchBackend(model, torch.device("cpu"), fuse=True).labels(x)
    assert torch.equal(labels, eager) and torch.equal(again, eager)
    warnings = [r for r in caplog.records if "torch.compile failed" in r.getMessage()]
    assert len(warnings) == 1 and "no C compiler found" in warnings[0].getMessage()
    assert not backend.options.compile and "compile" not in backend.describe()


def test_compiled_head_gives_the_eager_labels() -> None:
    if not has_torch_compile():
        pytest.skip("torch.compile needs PyTorch >= 2.0")
    torch.manual_seed(0)
    logits = torch.randn(1, 7, 16, 24).contiguous(memory_format=torch.channels_last)
    head = compiled_head()
    for mode in ("bilinear", "nearest"):
        assert torch.equal(head(logits, (64, 96), mode), resize_argmax(logits, (64, 96), mode))
