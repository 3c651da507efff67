"""backend "auto" on a CPU: the faster of torch and onnxruntime, timed once per machine, model, size and
precision, cached in the build cache's auto/ folder (issue 15). The timer is the tests' own, so that
which backend wins is decided here, not by the machine's load."""

import json
import logging
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from swiftnet_ros.infer import Segmenter, autoselect
from swiftnet_ros.infer import segmenter as segmenter_module
from swiftnet_ros.infer.registry import AUTO_CANDIDATES, auto_reason, auto_times, choose_backend

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZE = (32, 64)  # (H, W)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One build cache for the module (the ONNX exports are made once); each test clears auto/."""
    return str(tmp_path_factory.mktemp("cache"))


class FakeTimer:
    """``autoselect.TimeRun``: each run of a candidate "takes" ``ms[name]``; ``calls`` counts runs."""

    def __init__(self, **ms: float) -> None:
        self.ms = ms
        self.calls = 0

    def __call__(self, name, run):
        self.calls += 1
        run()
        return self.ms[name] / 1e3


@pytest.fixture
def timer(monkeypatch, cache_dir):
    import shutil

    shutil.rmtree(os.path.join(cache_dir, autoselect.FOLDER), ignore_errors=True)
    fake = FakeTimer(torch=5.0, onnxruntime=1.0)
    monkeypatch.setattr(autoselect, "time_run", fake)
    return fake


@pytest.fixture
def builds(monkeypatch):
    """The backend names the Segmenter builds, in order."""
    names = []
    real = segmenter_module.build_backend

    def counting(name, *args, **kwargs):
        names.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(segmenter_module, "build_backend", counting)
    return names


def cached_files(cache_dir):
    folder = os.path.join(cache_dir, autoselect.FOLDER)
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)) if os.path.isdir(folder) else []


def test_a_timed_choice_is_cached_and_read_back_without_timing(cache_dir, timer, builds):
    first = Segmenter("mnv2", device="cpu", input_size=SIZE, warmup=0, engine_cache_dir=cache_dir)
    assert first.backend_name == "onnxruntime" and first.backend.name == "onnxruntime"
    assert timer.calls == autoselect.RUNS * 2
    assert builds == ["torch", "onnxruntime"]  # each once: the winner is handed over, not built again
    assert first.backend.options.threads == torch.get_num_threads()  # as many threads as torch has
    (path,) = cached_files(cache_dir)
    assert first.backend_reason == ("auto: onnxruntime (timed 1 ms vs torch 5 ms at 64x32 on this machine, "
                                    "choice cached in {})".format(path))
    with open(path) as f:
        record = json.load(f)
    assert record["choice"] == "onnxruntime" and record["timings_ms"] == {"torch": 5.0, "onnxruntime": 1.0}
    assert record["agreement"] == {"torch": 1.0, "onnxruntime": 1.0} and record["excluded"] == {}
    key = record["key"]
    assert key["size"] == [32, 64] and key["precision"] == "fp32"
    assert key["candidates"] == ["torch", "onnxruntime"]
    assert key["machine"]["cores"] == os.cpu_count() and key["machine"]["threads"] == torch.get_num_threads()
    assert key["machine"]["model"] and key["versions"]["torch"] == torch.__version__ and record["date"]

    del builds[:]
    second = Segmenter("mnv2", device="cpu", input_size=SIZE, warmup=0, engine_cache_dir=cache_dir)
    assert timer.calls == autoselect.RUNS * 2 and builds == ["onnxruntime"]  # read back: only the winner
    assert second.backend_name == "onnxruntime"
    assert second.backend_reason.startswith("auto: onnxruntime (timed 1 ms vs torch 5 ms at 64x32 on this "
                                            "machine, cached {} on ".format(path))

    timer.ms = {"torch": 1.0, "onnxruntime": 5.0}
    forced = Segmenter("mnv2", device="cpu", input_size=SIZE, warmup=0, engine_cache_dir=cache_dir,
                       force_engine_rebuild=True)  # times again, and caches the new choice
    assert timer.calls == autoselect.RUNS * 4 and forced.backend_name == "torch"
    with open(path) as f:
        assert json.load(f)["choice"] == "torch"


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[]", None])
def test_a_corrupt_or_unknown_cached_choice_is_ignored_with_a_warning_and_rewritten(
        cache_dir, timer, caplog, content):
    Segmenter("mnv2", device="cpu", input_size=SIZE, warmup=0, engine_cache_dir=cache_dir)
    (path,) = cached_files(cache_dir)
    if content is None:  # valid JSON naming a backend that is not a candidate
        with open(path) as f:
            record = json.load(f)
        record["choice"] = "tflite"
        content = json.dumps(record).encode()
    with open(path, "wb") as f:
        f.write(content)
    with caplog.at_level(logging.WARNING, logger="swiftnet_ros.infer.autoselect"):
        again = Segmenter("mnv2", device="cpu", input_size=SIZE, warmup=0, engine_cache_dir=cache_dir)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ignoring the cached choice {}".format(path) in warnings[0], warnings
    assert timer.calls == autoselect.RUNS * 4 and again.backend_name == "onnxruntime"
    with open(path) as f:
        assert json.load(f)["choice"] == "onnxruntime"


def test_a_candidate_that_cannot_be_built_is_left_out_and_said(cache_dir, timer, monkeypatch):
    import swiftnet_ros.infer.backend_onnxruntime as backend_onnxruntime

    def unavailable(*args, **kwargs):
        raise ImportError("No module named 'onnxruntime'")

    monkeypatch.setattr(backend_onnxruntime, "OnnxRuntimeBackend", unavailable)
    seg = Segmenter("mnv2", device="cpu", input_size=SIZE, warmup=0, engine_cache_dir=cache_dir)
    assert seg.backend_name == "torch" and timer.calls == autoselect.RUNS
    assert ("auto: torch (timed 5 ms at 64x32 on this machine; onnxruntime left out: could not run: "
            "ImportError: No module named 'onnxruntime', choice cached in") in seg.backend_reason
    assert seg.segment(np.zeros(SIZE + (3,), np.uint8)).labels.shape == SIZE


def test_per_image_size_each_size_is_decided_at_its_first_image(cache_dir, timer):
    seg = Segmenter("mnv2", device="cpu", warmup=0, engine_cache_dir=cache_dir)
    assert seg.backend_name == "auto" and seg.needs_build() and timer.calls == 0
    assert "timed at the first image of each size" in seg.describe()
    assert seg.backend_reason == auto_reason("auto", "preset", "cpu")
    seg.segment(np.zeros(SIZE + (3,), np.uint8))
    assert seg.backend_name == "onnxruntime" and not seg.needs_build() and "64x32" in seg.backend_reason
    timer.ms = {"torch": 1.0, "onnxruntime": 5.0}  # the other size: torch wins
    seg.segment(np.zeros((40, 64, 3), np.uint8))
    assert seg.backend_name == "torch" and "64x40" in seg.backend_reason and len(cached_files(cache_dir)) == 2
    seg.segment(np.zeros(SIZE + (3,), np.uint8))  # back to the first size: its backend and reason
    assert seg.backend_name == "onnxruntime" and "64x32" in seg.backend_reason
    assert timer.calls == autoselect.RUNS * 4


def test_the_cache_key_changes_with_size_precision_weights_and_threads():
    def path(weights="a" * 64, size=SIZE, precision="fp32"):
        return autoselect.choice_path(autoselect.choice_key(weights, size, precision), "/c")

    base = path()
    assert path() == base  # the same key: the same file
    assert base.startswith("/c/auto/aaaaaaaaaaaa_64x32_fp32_")
    variants = {path(size=(32, 96)), path(precision="bf16"), path(weights="b" * 64)}
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        variants.add(path())
    finally:
        torch.set_num_threads(threads)
    assert len(variants) == 4 and base not in variants


class ConstantModel(nn.Module):
    """Logits that make every pixel class 1."""

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 3, x.shape[2], x.shape[3])
        logits[:, 1] = 1
        return logits


class FakeBackend:
    def __init__(self, name, label):
        self.name, self.label = name, label

    def labels(self, x):
        return torch.full((x.shape[0], x.shape[2], x.shape[3]), self.label, dtype=torch.uint8)


class HalfBackend(FakeBackend):
    def labels(self, x):
        labels = super().labels(x)
        labels[:, labels.shape[1] // 2:] = 0
        return labels


def test_a_candidate_that_disagrees_with_the_model_is_left_out(tmp_path):
    backends = {"torch": FakeBackend("torch", 1), "onnxruntime": FakeBackend("onnxruntime", 2)}
    decision = autoselect.choose(backends.__getitem__, ConstantModel(), "c" * 64, (8, 8),
                                 cache_dir=str(tmp_path), timer=FakeTimer(torch=5.0, onnxruntime=1.0))
    assert decision.name == "torch" and decision.backend is backends["torch"] and not decision.cached
    assert "onnxruntime left out: gives the model's label on only 0.000% of the pixels" in decision.reason
    backends = {"torch": FakeBackend("torch", 0), "onnxruntime": HalfBackend("onnxruntime", 1)}
    faster_torch = FakeTimer(torch=1.0, onnxruntime=5.0)
    decision = autoselect.choose(backends.__getitem__, ConstantModel(), "c" * 64, (8, 8),
                                 cache_dir=str(tmp_path), force=True, timer=faster_torch)
    assert decision.name == "onnxruntime"  # neither agrees: the closer one runs, and that is said
    assert "none agrees with the model on 99.99% of the pixels: the closest runs" in decision.reason


def test_no_candidate_builds_raises_the_first_error_and_an_unwritable_cache_only_warns(tmp_path, caplog):
    def broken(name):
        raise RuntimeError("{} is broken".format(name))

    with pytest.raises(RuntimeError, match="torch is broken"):
        autoselect.choose(broken, ConstantModel(), "d" * 64, (8, 8), cache_dir=str(tmp_path),
                          timer=FakeTimer())
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING, logger="swiftnet_ros.infer.autoselect"):
        decision = autoselect.choose(lambda name: FakeBackend(name, 1), ConstantModel(), "d" * 64, (8, 8),
                                     cache_dir=str(blocker), timer=FakeTimer(torch=2.0, onnxruntime=1.0))
    assert decision.name == "onnxruntime" and any("could not cache" in r.getMessage() for r in caplog.records)


def test_the_rule_where_auto_is_not_timed():
    assert AUTO_CANDIDATES == ("torch", "onnxruntime")
    assert auto_times("auto", "checkpoint", "cpu", "fp32") and auto_times("auto", "preset", "cpu")
    assert not auto_times("auto", "onnx", "cpu", "fp32") and not auto_times("auto", "engine", "cpu", "fp32")
    assert not auto_times("auto", "checkpoint", "cuda", "fp32")
    assert not auto_times("torch", "checkpoint", "cpu")
    assert not auto_times("auto", "checkpoint", "cpu", "bf16")
    assert not auto_times("auto", "checkpoint", "cpu", "fp32", {"threads": 2})
    assert choose_backend("auto", "onnx", "cpu") == "onnxruntime"
    assert choose_backend("auto", "engine", "cpu") == "tensorrt"
    assert choose_backend("auto", "checkpoint", "cuda") == "torch"
    assert choose_backend("auto", "checkpoint", "cpu", "bf16") == "torch"
    assert "options are given" in auto_reason("auto", "checkpoint", "cpu", options_given=True)


def test_backend_options_with_auto_keep_the_rule_and_say_so(cache_dir, timer):
    seg = Segmenter("mnv2", device="cpu", input_size=SIZE, warmup=0, engine_cache_dir=cache_dir,
                    backend_options={"threads": 1})
    assert seg.backend_name == "onnxruntime" and timer.calls == 0 and cached_files(cache_dir) == []
    assert "where backend options are given (not timed" in seg.backend_reason
