"""A script of bench/ or scripts/ as a module, for the tests of its functions (neither folder is a
package)."""

import importlib.util
import os
from types import ModuleType

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(*path: str) -> ModuleType:
    """The module of the script at ``path`` under the repository root, e.g.
    ``load_script("bench", "bench_cpu.py")``."""
    spec = importlib.util.spec_from_file_location(os.path.splitext(path[-1])[0], os.path.join(REPO, *path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
