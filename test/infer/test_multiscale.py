"""Multi-scale + flip inference and ensembles: shapes, the averaging, and the errors."""

import numpy as np
import pytest
import torch

from swiftnet_ros.infer.base import SegmenterBase
from swiftnet_ros.infer.multiscale import PAPER_SCALES, MultiScaleSegmenter, multiscale_probabilities
from swiftnet_ros.infer.weights import load_torch_weights
from swiftnet_ros.model import build_model, save_checkpoint

H, W = 64, 96


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    m, _ = load_torch_weights("rn18")
    return m


def batch(seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(seed)) * 255


def test_scales_reach_the_model_at_the_paper_sizes_and_come_back(model):
    seen = []

    def fn(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape[2:]))
        return model(x)

    with torch.no_grad():
        probs = multiscale_probabilities([fn], batch(), PAPER_SCALES, flip=True)
    assert probs.shape == (1, 19, H, W) and probs.dtype == torch.float32
    torch.testing.assert_close(probs.sum(1), torch.ones(1, H, W))
    sizes = [(32, 48), (48, 72), (64, 96), (80, 120), (96, 144)]
    assert seen == [s for s in sizes for _ in range(2)]  # each scale plain and flipped


def test_single_scale_is_the_plain_softmax_and_flip_is_averaged(model):
    x = batch(1)
    with torch.no_grad():
        plain = torch.softmax(model(x), 1)
        torch.testing.assert_close(multiscale_probabilities([model], x), plain)
        flipped = torch.softmax(model(x.flip(3)), 1).flip(3)
        torch.testing.assert_close(multiscale_probabilities([model], x, flip=True), (plain + flipped) / 2)


def test_ensemble_averages_members(model):
    torch.manual_seed(1)
    other = build_model("rn18-pyramid").eval()
    x = batch(2)
    with torch.no_grad():
        a, b = torch.softmax(model(x), 1), torch.softmax(other(x), 1)
        torch.testing.assert_close(multiscale_probabilities([model, other], x), (a + b) / 2)
        torch.testing.assert_close(multiscale_probabilities([model, model], x), a)
        with pytest.raises(ValueError, match="disagree on the number of classes: 19 vs 4"):
            multiscale_probabilities([model, build_model("rn18", num_classes=4).eval()], x)


def test_bad_scales_and_empty_ensembles(model):
    for bad in ([], [0.5, 0], ["big"], None):
        with pytest.raises(ValueError, match="scales must be"):
            multiscale_probabilities([model], batch(), bad)
    with pytest.raises(ValueError, match="need at least one model"):
        multiscale_probabilities([], batch())


def test_multiscale_segmenter(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    seg = MultiScaleSegmenter(["rn18", "rn18-pyramid"], scales=(0.75, 1.0), flip=True, device="cpu")
    assert seg.model_name == "rn18+rn18-pyramid" and seg.num_classes == 19 and len(seg.backends) == 2
    result = seg.segment(image)
    assert result.labels.shape == (H, W) and result.labels.dtype == np.uint8 and result.labels.max() < 19
    assert set(result.timings) == {"preprocess", "inference", "postprocess", "total"}
    probs = seg.probabilities(image)
    np.testing.assert_array_equal(probs.argmax(1)[0].numpy().astype(np.uint8), result.labels)
    small = MultiScaleSegmenter("rn18", scales=(1.0,), flip=False, device="cpu", input_size=(32, 48),
                                output_size="model")
    assert small.segment(image).labels.shape == (32, 48)
    assert result.timings["total"] >= result.timings["preprocess"] + result.timings["inference"]
    assert isinstance(seg, SegmenterBase) and not seg.needs_build()
    np.testing.assert_array_equal(seg.colorize(result.labels), seg.palette[result.labels])
    overlay = seg.overlay(image, result.labels, alpha=1.0)
    np.testing.assert_array_equal(overlay, seg.palette[result.labels])
    seg.set_palette(np.zeros((19, 3), np.uint8))
    assert not seg.colorize(result.labels).any()
    assert "rn18+rn18-pyramid" in seg.describe() and "0.75,1 + flip" in seg.describe()
    torch.manual_seed(0)
    path = str(tmp_path / "three.pt")
    save_checkpoint(path, build_model("rn18", num_classes=3), ["a", "b", "c"], [[0, 0, 0]] * 3)
    with pytest.raises(ValueError, match="ensemble member .*three.pt' has classes"):
        MultiScaleSegmenter(["rn18", path], device="cpu")
    with pytest.raises(ValueError, match="output_size 'full'"):
        MultiScaleSegmenter("rn18", device="cpu", output_size="full")
    with pytest.raises(ValueError, match="precision 'fp16' needs a CUDA device"):
        MultiScaleSegmenter("rn18", device="cpu", precision="fp16")
