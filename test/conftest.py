"""Shared test set-up: this test process and the ROS 2 processes it starts get a DDS domain of their
own, discovery on this machine only and Fast DDS's LARGE_DATA transports (large images between
processes need them). Build-cache entries (ONNX exports that `backend: auto` makes on a CPU)
go to a folder of this test run's own, removed at its end, never to ~/.cache. Ctrl-C works as in a
terminal even where the tests were started as a background job of a non-interactive shell (SIGINT
ignored, and inherited so by every process they start)."""

import atexit
import os
import shutil
import signal
import tempfile

import pytest

from swiftnet_ros.infer.cache import CACHE_DIR_VARIABLE
from swiftnet_ros.tools.processes import isolate

DOMAIN_ID = isolate()  # before any test imports rclpy: one domain for this whole test process
CACHE_DIR = os.environ[CACHE_DIR_VARIABLE] = tempfile.mkdtemp(prefix="swiftnet-test-cache-")
atexit.register(shutil.rmtree, CACHE_DIR, True)  # the node processes inherit the variable
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:  # children then start with the default again
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: fast and steady on a shared 2-core machine (OpenMP threads
    stall under load)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
