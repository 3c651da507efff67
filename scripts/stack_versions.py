"""Print the interpreter and library versions of the Python that runs this (one per line, e.g.
``Python 3.6.15``, ``torch 1.10.2``): `make test-jetson-stack` shows which stack it tests.
Runs on Python 3.6 (no newer syntax)."""

import importlib
import platform
import sys
from typing import Dict

LIBRARIES = (("torch", "torch"), ("numpy", "numpy"), ("onnxruntime", "onnxruntime"), ("opencv", "cv2"),
             ("PyYAML", "yaml"), ("onnx", "onnx"), ("pytest", "pytest"))


def versions() -> Dict[str, str]:
    """{"Python": "3.6.15", "torch": "1.10.2+cu102", ...}; "not installed" for a missing library."""
    found = {"Python": platform.python_version()}
    for name, module in LIBRARIES:
        try:
            found[name] = importlib.import_module(module).__version__
        except ImportError:
            found[name] = "not installed"
    return found


def main() -> int:
    for name, version in versions().items():
        print("{} {}".format(name, version))
    print("interpreter {}".format(sys.executable))
    return 0


if __name__ == "__main__":
    sys.exit(main())
