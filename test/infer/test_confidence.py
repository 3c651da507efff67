"""Confidence maps: round(255 x max softmax probability) beside the argmax, from every backend and the
multi-scale / ensemble path, at the labels' size; lower on class boundaries than inside regions."""

import os

import numpy as np
import pytest
import torch

from swiftnet_ros.data.synthetic import make_scene
from swiftnet_ros.infer import Segmenter
from swiftnet_ros.infer.backend import StaticGraphBackend
from swiftnet_ros.infer.backend_onnxruntime import OnnxRuntimeBackend
from swiftnet_ros.infer.backend_torch import TorchBackend
from swiftnet_ros.infer.export import export_onnx
from swiftnet_ros.infer.multiscale import MultiScaleSegmenter
from swiftnet_ros.infer.postprocess import labels_and_confidence
from swiftnet_ros.infer.weights import load_torch_weights

CPU = torch.device("cpu")
H, W = 64, 96
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CHECKPOINT = os.path.join(REPO, "demo", "swiftnet_demo.pt")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def reference(scores: torch.Tensor):
    """Labels and round(255 x max softmax) the plain way (softmax of every class map)."""
    probabilities = torch.softmax(scores.double(), 1)
    top, _ = probabilities.max(1)
    return scores.argmax(1).to(torch.uint8), (top * 255).round().to(torch.uint8)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to one step of 1/255 (float rounding at the .5 boundaries)."""
    return bool(((a.int() - b.int()).abs() <= 1).all())


def scene_batch(seed: int = 0, h: int = H, w: int = W) -> torch.Tensor:
    return torch.from_numpy(make_scene(seed, (h, w))[0]).permute(2, 0, 1)[None].float()


def test_labels_and_confidence_is_the_softmax_of_the_winner():
    scores = torch.randn(2, 5, 7, 9, generator=torch.Generator().manual_seed(0)) * 4
    scores[0, :, 0, 0] = 0.0  # a 5-way tie: probability 1/5
    labels, confidence = labels_and_confidence(scores)
    want_labels, want_confidence = reference(scores)
    assert labels.dtype == confidence.dtype == torch.uint8 and confidence.shape == (2, 7, 9)
    assert torch.equal(labels, want_labels)
    assert close(confidence, want_confidence)
    assert confidence[0, 0, 0] == 51  # round(255 / 5)
    assert int(confidence.min()) >= 51  # never below 1 / C


@pytest.mark.parametrize("weights", ["mnv2", "rn18-pyramid"])
def test_torch_backend_confidence_matches_the_full_resolution_softmax(weights):
    model, _ = load_torch_weights(weights)
    x = scene_batch(1)
    with torch.no_grad():
        want_labels, want_confidence = reference(model(x))
    for options in ({}, {"jit": True}, {"fold_bn": False}):
        backend = TorchBackend(model, CPU, **options)
        labels, confidence = backend.labels_confidence(x)
        assert labels.shape == confidence.shape == (1, H, W)
        assert (labels == want_labels).float().mean() >= 0.999, options
        assert close(confidence, want_confidence), options
        # the labels-only head (sparse on CPU) gives the same labels
        assert (backend.labels(x) == labels).float().mean() >= 0.999, options


def test_onnxruntime_backend_confidence_from_its_scores_and_refused_for_in_graph_argmax():
    model, meta = load_torch_weights("mnv2")
    x = scene_batch(2)
    backend = OnnxRuntimeBackend(export_onnx(model, (H, W), meta["class_names"], meta["palette"]), CPU,
                                 threads=1)
    labels, confidence = backend.labels_confidence(x)
    want_labels, want_confidence = reference(backend.logits(x))
    assert torch.equal(labels, want_labels) and close(confidence, want_confidence)
    with torch.no_grad():
        torch_labels, torch_confidence = reference(model(x))
    assert (labels == torch_labels).float().mean() >= 0.999
    assert ((confidence.int() - torch_confidence.int()).abs() <= 2).float().mean() >= 0.999
    in_graph = OnnxRuntimeBackend(export_onnx(model, (H, W), meta["class_names"], meta["palette"],
                                              argmax="in_graph"), CPU, threads=1)
    with pytest.raises(ValueError, match="no class scores for a confidence map; export it with --argmax"):
        in_graph.labels_confidence(x)


class BoundScores(StaticGraphBackend):
    """The TensorRT backend's shared half (StaticGraphBackend) over a fixed output buffer: what
    TensorRTBackend._run returns after execute_async; TensorRT itself cannot run here."""

    name = "tensorrt"
    graph_kind = "engine"

    def __init__(self, out: torch.Tensor, outputs_labels: bool = False) -> None:
        super().__init__(CPU, "fp32", -1 if outputs_labels else int(out.shape[1]),
                         fixed_size=tuple(out.shape[-2:]), outputs_labels=outputs_labels)
        self.out = out

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.out


def test_static_graph_backends_take_the_confidence_from_the_bound_output():
    scores = torch.randn(1, 4, 8, 12, generator=torch.Generator().manual_seed(3)) * 3
    engine = BoundScores(scores)
    labels, confidence = engine.labels_confidence(torch.zeros(1, 3, 8, 12))
    want_labels, want_confidence = reference(scores)
    assert torch.equal(labels, want_labels) and close(confidence, want_confidence)
    assert torch.equal(engine.labels(torch.zeros(1, 3, 8, 12)), labels)
    with pytest.raises(ValueError, match="this engine ends in an argmax"):
        BoundScores(want_labels.int(), outputs_labels=True).labels_confidence(torch.zeros(1, 3, 8, 12))


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@pytest.mark.parametrize("output_size", ["input", "model"])
def test_segmenter_confidence_has_the_labels_size_and_leaves_them_alone(backend, output_size):
    image = make_scene(4, (H + 16, W + 32))[0]
    segmenter = Segmenter("mnv2", backend=backend, device="cpu", input_size=(H, W), output_size=output_size,
                          warmup=0, backend_options={"threads": 1} if backend == "onnxruntime" else None)
    plain = segmenter.segment(image)
    assert plain.confidence is None
    result = segmenter.segment(image, confidence=True)
    assert result.confidence.dtype == np.uint8 and result.confidence.shape == result.labels.shape
    assert result.labels.shape == ((H, W) if output_size == "model" else image.shape[:2])
    assert (result.labels == plain.labels).mean() >= 0.999
    assert result.confidence.min() >= 255 // segmenter.num_classes


def test_multiscale_and_ensemble_confidence_is_the_averaged_probability_of_the_winner():
    image = make_scene(5, (H, W))[0]
    segmenter = MultiScaleSegmenter(["mnv2", "rn18"], scales=(0.75, 1.0), flip=True, device="cpu")
    result = segmenter.segment(image, confidence=True)
    probabilities = segmenter.probabilities(image).double()
    top, _ = probabilities.max(1)
    np.testing.assert_array_equal(result.labels, probabilities.argmax(1)[0].numpy().astype(np.uint8))
    assert close(torch.from_numpy(result.confidence), (top[0] * 255).round().to(torch.uint8))
    assert segmenter.segment(image).confidence is None
    small = MultiScaleSegmenter("mnv2", scales=(1.0,), flip=False, device="cpu", input_size=(32, 48))
    assert small.segment(image, confidence=True).confidence.shape == (H, W)  # output_size input


def boundary_masks(labels: np.ndarray, near: int = 1, far: int = 4):
    """(pixels within ``near`` of a class change, pixels farther than ``far`` from any)."""
    import cv2

    change = np.zeros(labels.shape, np.uint8)
    change[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    change[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    change[1:] |= labels[1:] != labels[:-1]
    change[:-1] |= labels[1:] != labels[:-1]
    distance = cv2.distanceTransform((1 - change).astype(np.uint8), cv2.DIST_L2, 3)
    return distance <= near, distance > far


@pytest.mark.skipif(not os.path.exists(DEMO_CHECKPOINT), reason="demo/swiftnet_demo.pt not built yet")
def test_confidence_is_lower_on_class_boundaries_than_inside_regions():
    segmenter = Segmenter(DEMO_CHECKPOINT, backend="torch", device="cpu", warmup=0)
    for seed in range(3):
        image, truth = make_scene(100 + seed, (128, 256))
        result = segmenter.segment(image, confidence=True)
        confidence = result.confidence.astype(np.float64)
        for labels in (truth, result.labels):  # the scene's boundaries, and the model's own
            edge, inside = boundary_masks(labels)
            inside &= truth != 255
            assert edge.any() and inside.any()
            assert confidence[edge].mean() + 20 < confidence[inside].mean(), (seed, confidence[edge].mean(),
                                                                              confidence[inside].mean())
