"""Labels on this stack equal the main venv's on the same scenes (`make test-jetson-stack`).

scripts/jetson_reference.py (main venv: Python 3.11, PyTorch 2.x, a recent onnxruntime) writes
scenes, its labels and the ONNX files it exported into $SWIFTNET_JETSON_REFERENCE; here, on the
Jetson TX2's stack (Python 3.6, PyTorch 1.10, onnxruntime 1.10), the demo checkpoint and those ONNX
files segment the same scenes. Convolution kernels differ between the releases, so a pixel whose two
best classes are nearly tied may flip: at least 99.9% of the pixels of every scene must agree. The
figures go to parity_py<version>.json in the same folder. Runs on Python 3.6 (no newer syntax).
"""

import json
import os
import platform
import sys

import numpy as np
import onnxruntime
import pytest
import torch

from swiftnet_ros.infer import Segmenter
from swiftnet_ros.infer.metadata import read_onnx_metadata

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CHECKPOINT = os.path.join(REPO, "demo", "swiftnet_demo.pt")
MIN_AGREEMENT = 0.999
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def reference():
    folder = os.environ.get("SWIFTNET_JETSON_REFERENCE")
    if not folder:
        if sys.version_info < (3, 8):
            pytest.fail("SWIFTNET_JETSON_REFERENCE is not set: run `make test-jetson-stack`, which writes "
                        "the main venv's reference labels first")
        pytest.skip("compares the Jetson stack with this one: `make test-jetson-stack` runs it")
    with open(os.path.join(folder, "versions.json")) as f:
        info = json.load(f)
    with np.load(os.path.join(folder, "scenes.npz")) as data:
        arrays = {key: data[key] for key in data.files}
    info.update(folder=folder, arrays=arrays)
    return info


@pytest.fixture(scope="module")
def figures(reference):
    """Agreement per check and scene; written to parity_py<version>.json when the module is done."""
    results = {"this_stack": {"python": platform.python_version(), "torch": torch.__version__,
                              "numpy": np.__version__, "onnxruntime": onnxruntime.__version__},
               "reference_stack": reference["versions"], "min_agreement": MIN_AGREEMENT}
    yield results
    name = "parity_py{}.json".format(platform.python_version())
    with open(os.path.join(reference["folder"], name), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)


def _agreement(segmenter, reference, key):
    agreement = []
    for index in range(len(reference["scenes"])):
        labels = segmenter.segment(reference["arrays"]["image_{}".format(index)]).labels
        expected = reference["arrays"]["{}_{}".format(key, index)]
        assert labels.shape == expected.shape and labels.dtype == expected.dtype == np.uint8
        agreement.append(float((labels == expected).mean()))
    return agreement


def test_the_reference_comes_from_another_stack(reference):
    versions = reference["versions"]
    assert versions["torch"] != torch.__version__
    assert versions["onnxruntime"] != onnxruntime.__version__
    assert len(reference["scenes"]) >= 6


def test_torch_backend_labels_equal_the_main_venvs(reference, figures):
    segmenter = Segmenter(DEMO_CHECKPOINT, backend="torch", device="cpu")
    agreement = _agreement(segmenter, reference, "torch")
    figures["torch"] = {"per_scene": agreement, "min": min(agreement), "backend": segmenter.describe()}
    assert min(agreement) >= MIN_AGREEMENT, agreement


@pytest.mark.parametrize("kind", ["logits", "labels"])
def test_onnxruntime_labels_equal_the_main_venvs(reference, figures, kind):
    path = os.path.join(reference["folder"], reference["onnx_files"][kind])
    segmenter = Segmenter(path, backend="onnxruntime", device="cpu")
    agreement = _agreement(segmenter, reference, "onnxruntime_" + kind)
    figures["onnxruntime_" + kind] = {"per_scene": agreement, "min": min(agreement)}
    assert min(agreement) >= MIN_AGREEMENT, agreement


def test_onnx_metadata_is_read_with_onnxruntime_where_onnx_is_missing(reference, monkeypatch):
    """A bare JetPack has onnxruntime but no onnx package: the metadata comes from onnxruntime."""
    path = os.path.join(reference["folder"], reference["onnx_files"]["logits"])
    with_onnx = read_onnx_metadata(path)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError):
        import onnx  # noqa: F401
    assert read_onnx_metadata(path) == with_onnx
    segmenter = Segmenter(path, backend="onnxruntime", device="cpu")
    assert segmenter.input_size == (256, 512) and segmenter.num_classes == 19
