"""Reference labels of the main venv (modern stack) for the Jetson stack's parity tests.

`make test-jetson-stack` runs this with the main venv's Python, then test/jetson/test_stack_parity.py
on Python 3.6 / PyTorch 1.10 / onnxruntime 1.10 compares its own labels with these. Writes into OUT:
  scenes.npz      images (seeded synthetic road scenes) and the labels of the demo checkpoint with
                  the torch backend and with onnxruntime on each ONNX file below (CPU, fp32)
  demo_logits.onnx, demo_labels.onnx   the demo checkpoint exported at opset 13 (argmax host / in_graph)
  versions.json   this stack's versions
ONNX export needs the modern stack's exporter, so the files come from here, as on a workstation.

    .venv/bin/python scripts/jetson_reference.py OUT
"""

import json
import os
import sys

import numpy as np
from stack_versions import versions as stack_versions  # scripts/, next to this file

from swiftnet_ros.data.synthetic import make_scene
from swiftnet_ros.infer import Segmenter
from swiftnet_ros.infer.export import export_onnx
from swiftnet_ros.model import load_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CHECKPOINT = os.path.join(REPO, "demo", "swiftnet_demo.pt")
MODEL_SIZE = (256, 512)  # (H, W) the demo checkpoint was trained at
# (seed, (H, W)): scenes at the model's size, and two at another size (resized in and out)
SCENES = [(424242 + i, MODEL_SIZE) for i in range(6)] + [(424300, (360, 480)), (424301, (200, 640))]
ONNX_FILES = {"logits": "demo_logits.onnx", "labels": "demo_labels.onnx"}  # output kind -> file


def write_reference(out: str) -> dict:
    """Export the ONNX files and write scenes.npz and versions.json into ``out``; returns the versions."""
    os.makedirs(out, exist_ok=True)
    model, meta = load_model(DEMO_CHECKPOINT)
    for kind, name in ONNX_FILES.items():
        export_onnx(model, MODEL_SIZE, meta["class_names"], meta["palette"], path=os.path.join(out, name),
                    argmax="in_graph" if kind == "labels" else "host", model_name="swiftnet_demo")
    torch_segmenter = Segmenter(DEMO_CHECKPOINT, backend="torch", device="cpu")
    ort_segmenters = {kind: Segmenter(os.path.join(out, name), backend="onnxruntime", device="cpu")
                      for kind, name in ONNX_FILES.items()}
    arrays = {}
    for index, (seed, size) in enumerate(SCENES):
        image, _ = make_scene(seed, size)
        arrays["image_{}".format(index)] = image
        arrays["torch_{}".format(index)] = torch_segmenter.segment(image).labels
        for kind, segmenter in ort_segmenters.items():
            arrays["onnxruntime_{}_{}".format(kind, index)] = segmenter.segment(image).labels
    np.savez_compressed(os.path.join(out, "scenes.npz"), **arrays)
    versions = stack_versions()
    with open(os.path.join(out, "versions.json"), "w") as f:
        json.dump({"versions": versions, "scenes": [[seed, list(size)] for seed, size in SCENES],
                   "onnx_files": ONNX_FILES}, f, indent=1)
    return versions


def main(argv: list) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: jetson_reference.py OUT\n")
        return 2
    versions = write_reference(argv[0])
    print("reference labels ({}) in {}".format(
        ", ".join("{} {}".format(k, v) for k, v in versions.items()), argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
