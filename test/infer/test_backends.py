"""Backends: BN folding is legal and exact, torch options agree, onnxruntime agrees with torch."""

import copy
import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from model_helpers import bf16_missing, randomise_bn

from swiftnet_ros.infer.backend import check_precision, resolve_device
from swiftnet_ros.infer.backend_onnxruntime import OnnxRuntimeBackend, select_providers
from swiftnet_ros.infer.backend_torch import TorchBackend, has_torch_compile
from swiftnet_ros.infer.export import export_onnx
from swiftnet_ros.infer.postprocess import bilinear_argmax, nearest_argmax
from swiftnet_ros.infer.rewrites.fold_bn import find_foldable_pairs, fold_batchnorm
from swiftnet_ros.infer.rewrites.winograd import WinogradConv2d, nnpack_available, winograd_eligible
from swiftnet_ros.infer.weights import load_torch_weights
from swiftnet_ros.model import build_model

CPU = torch.device("cpu")
H, W = 64, 96


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def image_batch(seed: int = 0, h: int = H, w: int = W) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 255


@pytest.fixture(scope="module")
def rn18():
    torch.manual_seed(0)
    return randomise_bn(build_model("rn18")).eval()


# ------------------------------------------------------------------ BN folding
def test_fold_batchnorm_matches_unfolded_rn18(rn18):
    folded = copy.deepcopy(rn18)
    pairs = fold_batchnorm(folded, torch.zeros(1, 3, 64, 64))
    # ResNet-18: stem + 2 per block x 8 blocks + 3 downsamples; the decoder's last blend conv feeds the
    # logits BN directly (BN-ReLU-Conv), so that one folds too; no other decoder BN follows a conv.
    encoder = [p for p in pairs if p[0].startswith("encoder.")]
    assert len(encoder) == 20
    decoder = [p for p in pairs if not p[0].startswith("encoder.")]
    assert decoder == [("decoder.upsample.2.blend.conv", "logits.norm")]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules()) == \
        sum(isinstance(m, nn.BatchNorm2d) for m in rn18.modules()) - len(pairs)
    x = image_batch()
    with torch.no_grad():
        a, b = rn18(x), folded(x)
    assert (a - b).abs().max() <= 1e-4 * a.abs().max()
    assert (a.argmax(1) == b.argmax(1)).float().mean() >= 0.999


@pytest.mark.parametrize("preset", ["mnv2", "rn18-pyramid"])
def test_fold_batchnorm_other_models(preset):
    torch.manual_seed(0)
    model = randomise_bn(build_model(preset, num_classes=5)).eval()
    folded = copy.deepcopy(model)
    pairs = fold_batchnorm(folded, torch.zeros(1, 3, 64, 64))
    if preset == "rn18-pyramid":
        # encoder convolutions are shared between pyramid levels with one BN per level: not foldable
        assert all(not p[0].startswith("encoder.") for p in pairs)
    else:
        # MobileNet V2 up to features[17]: stem + 2 in the first block + 3 in each of the other 16
        assert len([p for p in pairs if p[0].startswith("encoder.")]) == 1 + 2 + 16 * 3
    x = image_batch(1)
    with torch.no_grad():
        a, b = model(x), folded(x)
    assert (a - b).abs().max() <= 1e-4 * a.abs().max()


class _SharedOutput(nn.Module):
    """conv -> bn, but the conv output is also used by the residual add: folding would be wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 4, 1)
        self.bn2 = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.bn2(self.conv2(self.bn(y) + y))


def test_fold_batchnorm_skips_conv_outputs_used_twice():
    model = randomise_bn(_SharedOutput()).eval()
    assert find_foldable_pairs(model, torch.zeros(1, 3, 8, 8)) == [("conv2", "bn2")]
    folded = copy.deepcopy(model)
    fold_batchnorm(folded, torch.zeros(1, 3, 8, 8))
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)


def test_fold_batchnorm_needs_eval_mode():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(_SharedOutput().train(), torch.zeros(1, 3, 8, 8))


# ------------------------------------------------------------------ torch backend
def test_torch_backend_options_agree_and_leave_the_model_alone(rn18):
    x = image_batch(2)
    before = {k: v.clone() for k, v in rn18.state_dict().items()}
    with torch.no_grad():
        reference = rn18(x).argmax(1).to(torch.uint8)
    for options in ({"fold_bn": False, "channels_last": False}, {}, {"jit": True}):
        backend = TorchBackend(rn18, CPU, **options)
        labels = backend.labels(x)
        assert labels.dtype == torch.uint8 and labels.shape == (1, H, W)
        assert (labels == reference).float().mean() >= 0.999, options
        assert backend.logits(x).shape == (1, 19, H, W)
    assert all(torch.equal(v, rn18.state_dict()[k]) for k, v in before.items())
    assert isinstance(rn18.encoder.bn1, nn.BatchNorm2d)  # the caller's model was not folded


def test_torch_backend_jit_retraces_on_a_new_shape(rn18):
    backend = TorchBackend(rn18, CPU, jit=True)
    for h, w in ((64, 96), (96, 64)):
        x = image_batch(3, h, w)
        with torch.no_grad():
            reference = rn18(x).argmax(1)
        assert (backend.labels(x) == reference).float().mean() >= 0.999
    assert len(backend._traced) == 2


def test_torch_backend_refuses_cuda_only_options_on_cpu(rn18):
    with pytest.raises(ValueError, match="fp16.*CUDA"):
        TorchBackend(rn18, CPU, precision="fp16")
    with pytest.raises(ValueError, match="cuda_graphs=True needs a CUDA device"):
        TorchBackend(rn18, CPU, cuda_graphs=True)
    with pytest.raises(ValueError, match="jit=True and compile=True"):
        TorchBackend(rn18, CPU, jit=True, compile=True)


def test_torch_compile_is_feature_checked(rn18, monkeypatch):
    assert has_torch_compile() == hasattr(torch, "compile")
    monkeypatch.delattr(torch, "compile", raising=False)  # as on the Jetson's PyTorch 1.10
    assert not has_torch_compile()
    with pytest.raises(ValueError, match=r"compile=True needs torch.compile \(PyTorch >= 2.0\)"):
        TorchBackend(rn18, CPU, compile=True)


def test_torch_backend_checks_its_input(rn18):
    backend = TorchBackend(rn18, CPU)
    with pytest.raises(ValueError, match="float32 or uint8"):
        backend.labels(torch.zeros(1, 3, 8, 8, dtype=torch.float16))
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        backend.labels(torch.zeros(3, 8, 8))


def test_device_and_precision_checks():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        check_precision("int4", CPU)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


# ------------------------------------------------------------------ onnxruntime backend
def test_select_providers():
    available = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert select_providers(available, CPU) == ["CPUExecutionProvider"]
    assert select_providers(available, torch.device("cuda")) == available
    assert select_providers(["CUDAExecutionProvider", "CPUExecutionProvider"], torch.device("cuda:1")) == \
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(ValueError, match="CUDAExecutionProvider"):
        select_providers(["CPUExecutionProvider"], torch.device("cuda"))


@pytest.mark.parametrize("weights", ["rn18", "mnv2"])
def test_onnxruntime_agrees_with_torch(weights):
    model, meta = load_torch_weights(weights)
    randomise_bn(model)
    onnx_bytes = export_onnx(model, (H, W), meta["class_names"], meta["palette"])
    ort_backend = OnnxRuntimeBackend(onnx_bytes, CPU, threads=1)
    torch_backend = TorchBackend(model, CPU)
    assert ort_backend.fixed_size == (H, W) and ort_backend.num_classes == 19
    for seed in range(2):
        x = image_batch(seed)
        a, b = torch_backend.labels(x), ort_backend.labels(x)
        assert a.dtype == b.dtype == torch.uint8
        assert (a == b).float().mean() >= 0.999
        logits = ort_backend.logits(x)
        assert logits.shape == (1, 19, H, W)
    with pytest.raises(ValueError, match="built for input size 64x96"):
        ort_backend.labels(image_batch(0, 32, 32))


def test_onnxruntime_in_graph_argmax_and_precision_check():
    model, meta = load_torch_weights("rn18")
    onnx_bytes = export_onnx(model, (H, W), meta["class_names"], meta["palette"], argmax="in_graph")
    backend = OnnxRuntimeBackend(onnx_bytes, CPU, threads=1)
    assert backend.outputs_labels
    x = image_batch(4)
    with torch.no_grad():
        reference = model(x).argmax(1).to(torch.uint8)
    assert (backend.labels(x) == reference).float().mean() >= 0.999
    with pytest.raises(ValueError, match="ends in an argmax"):
        backend.logits(x)
    with pytest.raises(ValueError, match="unknown optimization level 'max'"):
        OnnxRuntimeBackend(onnx_bytes, CPU, optimization="max")
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        OnnxRuntimeBackend(onnx_bytes, CPU, threads=0)


def test_labels_are_numpy_compatible(rn18):
    labels = TorchBackend(rn18, CPU).labels(image_batch()).numpy()
    assert labels.dtype == np.uint8 and labels.max() < 19


# ------------------------------------------------------------------ Winograd (NNPACK) on CPU
needs_nnpack = pytest.mark.skipif(not nnpack_available(), reason="this PyTorch has no NNPACK")


@needs_nnpack
@pytest.mark.parametrize("shape", [(1, 16, 24, 32), (1, 8, 5, 7)])  # NNPACK, and the small-map fallback
def test_winograd_conv_matches_conv2d(shape):
    g = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(shape[1], 12, 3, padding=1).eval()
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.1)
        x = torch.randn(shape, generator=g)
        torch.testing.assert_close(WinogradConv2d(conv)(x), conv(x), rtol=1e-4, atol=1e-4)
        cl = x.contiguous(memory_format=torch.channels_last)  # any input layout
        torch.testing.assert_close(WinogradConv2d(conv)(cl), conv(x), rtol=1e-4, atol=1e-4)
    for bad in (nn.Conv2d(4, 4, 3, stride=2), nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, groups=2),
                nn.Conv2d(4, 4, 3, dilation=2)):
        assert not winograd_eligible(bad)
        with pytest.raises(ValueError, match="needs a 3x3 stride-1 ungrouped Conv2d"):
            WinogradConv2d(bad)


@needs_nnpack
def test_winograd_backend_agrees_and_runs_the_stem_channels_last(rn18):
    backend = TorchBackend(rn18, CPU, winograd=True)
    # 13 encoder 3x3 stride-1 convolutions (2 per block, less the 3 strided) + 3 decoder blends
    assert len(backend.winograd) == 16
    assert backend.stem == ["encoder.conv1", "encoder.bn1", "encoder.relu", "encoder.maxpool"]
    assert backend.model.encoder.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = image_batch(5, 96, 160)
    with torch.no_grad():
        reference = rn18(x)
    assert (backend.labels(x) == reference.argmax(1)).float().mean() >= 0.999
    logits = backend.logits(x)
    assert (logits - reference).abs().max() <= 1e-4 * reference.abs().max()
    nchw = TorchBackend(rn18, CPU, winograd=True, channels_last=False)
    assert nchw.stem == [] and (nchw.labels(x) == reference.argmax(1)).float().mean() >= 0.999


def test_winograd_is_cpu_only_and_needs_nnpack(rn18, monkeypatch):
    with pytest.raises(ValueError, match="winograd=True is a CPU option"):
        TorchBackend(rn18, torch.device("cuda"), winograd=True)
    monkeypatch.setattr(torch, "_nnpack_available", lambda: False)  # as a PyTorch built without NNPACK
    assert not nnpack_available()
    with pytest.raises(ValueError, match="winograd=True needs NNPACK"):
        TorchBackend(rn18, CPU, winograd=True)


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CHECKPOINT = os.path.join(REPO, "demo", "swiftnet_demo.pt")


@pytest.mark.skipif(not os.path.exists(DEMO_CHECKPOINT), reason="demo/swiftnet_demo.pt not built yet")
def test_backends_agree_on_the_demo_checkpoint():
    from swiftnet_ros.data.synthetic import make_scene

    model, meta = load_torch_weights(DEMO_CHECKPOINT)
    image, _ = make_scene(7, (H, W))
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        reference = model(x).argmax(1).to(torch.uint8)
    onnx_bytes = export_onnx(model, (H, W), meta["class_names"], meta["palette"])
    backends = [TorchBackend(model, CPU), OnnxRuntimeBackend(onnx_bytes, CPU, threads=1)]
    if nnpack_available():
        backends.append(TorchBackend(model, CPU, winograd=True))
    for backend in backends:
        assert (backend.labels(x) == reference).float().mean() >= 0.999, backend.describe()


# ------------------------------------------------------------------ labels from stride-4 logits
@pytest.mark.parametrize("shape,size", [((2, 19, 7, 9), (30, 41)), ((1, 5, 16, 24), (64, 96)),
                                        ((1, 3, 5, 5), (3, 4)), ((1, 4, 1, 6), (4, 24))])
def test_sparse_argmax_equals_resize_then_argmax(shape, size):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, generator=g)
    logits[:, 0, : shape[2] // 2] += 4.0  # a uniform region (4 agreeing sources) and boundaries
    dense = F.interpolate(logits, size=size, mode="bilinear", align_corners=False).argmax(1)
    sparse = bilinear_argmax(logits, size)
    assert sparse.shape == dense.shape
    assert (sparse == dense).float().mean() >= 0.9999
    near = F.interpolate(logits, size=size, mode="nearest").argmax(1)
    assert torch.equal(nearest_argmax(logits, size), near)
    uniform = torch.zeros(1, 3, 4, 4)
    uniform[:, 1] = 1.0  # no boundaries at all: nothing to interpolate
    assert torch.equal(bilinear_argmax(uniform, size), torch.ones(1, *size, dtype=torch.int64))


def test_sparse_argmax_survives_jit_tracing_without_boundaries():
    # traced where no pixel needs interpolating (as on a blank warm-up image), then run on real logits
    uniform = torch.zeros(1, 3, 8, 12)
    uniform[:, 2] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(lambda logits: bilinear_argmax(logits, (32, 48)), (uniform,))
    logits = torch.randn(1, 3, 8, 12, generator=torch.Generator().manual_seed(1))
    dense = F.interpolate(logits, size=(32, 48), mode="bilinear", align_corners=False).argmax(1)
    assert (traced(logits) == dense).float().mean() >= 0.9999


def test_torch_backend_uses_the_sparse_head_on_cpu(rn18):
    backend = TorchBackend(rn18, CPU, jit=True)
    assert backend.head.sparse
    backend.labels(torch.zeros(1, 3, H, W))  # traced on a blank image
    x = image_batch(6)
    with torch.no_grad():
        reference = rn18(x).argmax(1)
    assert (backend.labels(x) == reference).float().mean() >= 0.999


# ------------------------------------------------------------------ bf16 (torch backend)
needs_cpu_bf16 = pytest.mark.skipif(bool(bf16_missing()), reason=bf16_missing() or "runs")


@needs_cpu_bf16
@pytest.mark.parametrize("weights", ["mnv2", DEMO_CHECKPOINT])
def test_bf16_labels_agree_with_fp32_on_a_synthetic_scene(weights):
    if not os.path.exists(weights) and weights != "mnv2":
        pytest.skip("demo/swiftnet_demo.pt not built yet")
    from swiftnet_ros.data.synthetic import make_scene
    from swiftnet_ros.infer.segmenter import image_to_batch

    model, _ = load_torch_weights(weights)
    x = image_to_batch(make_scene(0, (64, 128))[0], True, CPU, (64, 128))
    fp32, bf16 = TorchBackend(model, CPU), TorchBackend(model, CPU, "bf16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16 and bf16.precision == "bf16"
    conv = next(m for m in bf16.model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    reference = fp32.labels(x)
    labels = bf16.labels(x)
    assert labels.dtype == torch.uint8 and labels.shape == (1, 64, 128)
    assert (labels == reference).float().mean() >= 0.99
    scores = bf16.logits(x)
    assert scores.dtype == torch.float32 and scores.shape == (1, 19, 64, 128)
    with_confidence, confidence = bf16.labels_confidence(x)
    assert confidence.dtype == torch.uint8 and (with_confidence == reference).float().mean() >= 0.99
    uint8 = bf16.labels(x.round().to(torch.uint8))  # the node's uint8 batches
    assert (uint8 == reference).float().mean() >= 0.99
    traced = TorchBackend(model, CPU, "bf16", jit=True)
    assert (traced.labels(x) == reference).float().mean() >= 0.99


@needs_cpu_bf16
def test_bf16_evaluation_module_gives_float_scores(rn18):
    from swiftnet_ros.infer.backend_torch import TorchModule

    module = TorchModule(rn18, CPU, "bf16")
    scores = module(image_batch())
    assert scores.dtype == torch.float32 and scores.shape == (1, 19, H, W) and module.config is rn18.config


def test_bf16_needs_the_cpu_flags_and_says_what_is_missing(rn18, monkeypatch):
    from swiftnet_ros.infer import backend

    monkeypatch.setattr(backend, "read_cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    refusal = (r"^precision 'bf16' needs a CPU with AVX512-BF16 or AMX \(this CPU has neither\) or a CUDA "
               r"GPU with bf16; use precision 'fp32'$")
    with pytest.raises(ValueError, match=refusal):
        check_precision("bf16", CPU)
    with pytest.raises(ValueError, match=refusal):
        TorchBackend(rn18, CPU, "bf16")
    monkeypatch.setattr(backend, "cpu_has_bf16_kernels", lambda: True)
    for flag in ("avx512_bf16", "amx_bf16"):
        monkeypatch.setattr(backend, "read_cpu_flags", lambda flag=flag: frozenset({"avx2", flag}))
        assert check_precision("bf16", CPU) == "bf16"
    monkeypatch.setattr(backend, "cpu_has_bf16_kernels", lambda: False)  # PyTorch 1.10
    with pytest.raises(ValueError, match=r"^precision 'bf16' on a CPU needs PyTorch's bf16 CPU kernels .*, "
                                         r"which PyTorch \S+ lacks; use precision 'fp32'$"):
        check_precision("bf16", CPU)


def test_cpu_bf16_probe_agrees_with_a_bf16_forward():
    """Both stacks: PyTorch 1.10 lacks bf16 CPU kernels (the probe says no), PyTorch 2 has them."""
    from swiftnet_ros.infer.backend import cpu_has_bf16_kernels

    model = build_model("mnv2-pyramid", num_classes=3).eval()
    model = model.to(torch.bfloat16, memory_format=torch.channels_last)
    x = torch.zeros(1, 3, 32, 64, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    try:
        with torch.no_grad():
            model(x)
        ran = True
    except RuntimeError:  # PyTorch 1.10: "... not implemented for 'BFloat16'"
        ran = False
    assert cpu_has_bf16_kernels() == ran


def test_bf16_runs_without_winograd(rn18, monkeypatch):
    from swiftnet_ros.infer import backend
    from swiftnet_ros.infer.backend_torch import default_options

    monkeypatch.setattr(backend, "read_cpu_flags", lambda: frozenset({"amx_bf16"}))
    monkeypatch.setattr(backend, "cpu_has_bf16_kernels", lambda: True)
    assert default_options(rn18, CPU, {}, "bf16")["winograd"] is False  # NNPACK is fp32 only
    with pytest.raises(ValueError, match="winograd=True runs NNPACK's fp32 convolutions, not precision 'bf1"):
        TorchBackend(rn18, CPU, "bf16", winograd=True)
