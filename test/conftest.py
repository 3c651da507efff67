"""Shared test set-up: large images between processes need Fast DDS's LARGE_DATA transports."""

import os

import pytest

os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: fast and steady on a shared 2-core machine (OpenMP threads
    stall under load)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
