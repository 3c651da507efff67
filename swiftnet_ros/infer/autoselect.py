"""``backend: auto`` on a CPU: the faster of the torch and onnxruntime backends for this machine, this
model and this size, timed once and remembered.

No rule fits every CPU: ONNX Runtime ran RN-18 3.25x the eager baseline on an AMD EPYC but 1.5-2.4x on
an Intel Xeon, where the torch backend's figures moved with the load (bench/results/cpu_notes.md), and
the model and size change the ratio too. So each candidate (``registry.AUTO_CANDIDATES``) is built
through the registry at the size it will run at, checked against the model's own labels on a seeded
image (a candidate that disagrees is left out, and said), and timed: one warm-up (that check), then
the median of ``RUNS`` runs, the candidates interleaved so that a load change hits them alike. The
fastest wins, and is handed back built (the others are dropped).

The choice is one small JSON per key in ``<cache folder>/auto/`` (the engine cache folder): the key is
the machine (CPU model and flags, cores, the thread count in use), the torch and ONNX Runtime versions,
the weights' hash, the size, the precision and the code's hash; later starts read it and build only the
winner. A corrupt entry, or one naming a backend that is not a candidate, is ignored with a warning
and timed again.
"""

import datetime
import functools
import hashlib
import json
import logging
import os
import platform
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from swiftnet_ros.files import write_json_atomic
from swiftnet_ros.infer.backend import Backend
from swiftnet_ros.infer.cache import code_hash, default_cache_dir, sources_hash
from swiftnet_ros.infer.cpu import cpu_model, read_cpu_flags
from swiftnet_ros.infer.postprocess import label_agreement
from swiftnet_ros.infer.registry import AUTO_CANDIDATES

LOG = logging.getLogger(__name__)

FORMAT = "swiftnet_ros.auto/1"
RUNS = 3  # timed runs per candidate, after one warm-up
MIN_AGREEMENT = 0.9999  # a candidate must give the model's label on this share of the probe's pixels
FOLDER = "auto"  # under the cache folder

Size = Tuple[int, int]
TimeRun = Callable[[str, Callable[[], object]], float]
"""(candidate name, one run) -> seconds; the tests pass their own to make the choice deterministic."""


def time_run(name: str, run: Callable[[], object]) -> float:
    """Seconds that ``run()`` took (CPU backends return when their result is ready)."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


@dataclass
class Decision:
    """What ``choose`` decided: the backend's ``name``, the ``reason`` (one line for the logs), the
    ``backend`` itself (built once), the cache file ``path`` and whether the choice came from it."""

    name: str
    reason: str
    backend: Backend
    path: str
    cached: bool


# ---------------------------------------------------------------------------- the key
def cpu_description() -> Dict[str, str]:
    """The CPU's model name and a hash of its feature flags."""
    flags = " ".join(sorted(read_cpu_flags()))
    return {"model": cpu_model(), "flags": hashlib.sha256(flags.encode("utf-8")).hexdigest()[:16]}


def machine_description() -> Dict[str, Any]:
    """What the timing depends on besides the model: the CPU, its cores, the threads torch uses (the
    node's ``cpu_threads``; onnxruntime gets as many), the OS and architecture."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    description = cpu_description()
    description.update({"cores": os.cpu_count(), "usable_cores": usable, "threads": torch.get_num_threads(),
                        "system": platform.system(), "architecture": platform.machine()})
    return description


def runtime_versions() -> Dict[str, Optional[str]]:
    """torch's and ONNX Runtime's versions (None: not installed)."""
    try:
        import onnxruntime

        onnxruntime_version: Optional[str] = onnxruntime.__version__
    except ImportError:
        onnxruntime_version = None
    return {"torch": torch.__version__, "onnxruntime": onnxruntime_version}


def choice_key(weights_hash: str, size: Size, precision: str,
               candidates: Sequence[str] = AUTO_CANDIDATES) -> Dict[str, Any]:
    """Everything a timed choice depends on; another value of any of them is another cache entry."""
    infer = os.path.dirname(os.path.abspath(__file__))
    return {"machine": machine_description(), "versions": runtime_versions(), "weights": weights_hash,
            "size": [int(size[0]), int(size[1])], "precision": precision, "candidates": list(candidates),
            "code": code_hash()[:16],
            "infer_code": sources_hash([infer, os.path.join(infer, "rewrites")])[:16]}


def choice_path(key: Dict[str, Any], cache_dir: Optional[str] = None) -> str:
    """``<cache folder>/auto/<weights>_<W>x<H>_<precision>_<hash of the key>.json``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    name = "{}_{}x{}_{}_{}.json".format(key["weights"][:12], key["size"][1], key["size"][0], key["precision"],
                                        digest)
    return os.path.join(cache_dir or default_cache_dir(), FOLDER, name)


def read_choice(path: str, key: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The cached record at ``path``, or None: none yet, or one that is unreadable, of another key or
    naming a backend that is not a candidate (then with one warning line: it is timed again)."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            problem = "not a {} record".format(FORMAT)
        elif record.get("key") != key:
            problem = "made for another key"
        elif record.get("choice") not in key["candidates"]:
            problem = "unknown backend {!r}".format(record.get("choice"))
        elif not isinstance(record.get("timings_ms"), dict):
            problem = "no timings"
        else:
            return record
    except (OSError, ValueError) as error:  # json's JSONDecodeError and UnicodeDecodeError are ValueErrors
        problem = "unreadable: {}".format(error)
    LOG.warning("auto: ignoring the cached choice %s (%s); timing the backends again", path, problem)
    return None


# ---------------------------------------------------------------------------- the timing
def probe_image(size: Size, seed: int = 0) -> torch.Tensor:
    """A seeded 1 x 3 x H x W float image (0-255, whole values like a camera's): smooth colour regions
    with some noise, so that labels have areas and edges as in a real scene."""
    height, width = int(size[0]), int(size[1])
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(1, height // 32), max(1, width // 32), generator=generator) * 255
    smooth = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    noise = (torch.rand(1, 3, height, width, generator=generator) - 0.5) * 48
    return (smooth + noise).clamp(0, 255).round().contiguous()


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return "{}: {}".format(type(error).__name__, text[0]) if text else type(error).__name__


def _ms(value: float) -> str:
    return "{:.0f} ms".format(value) if value >= 10 else "{:.2g} ms".format(value)


def _size_text(size: Sequence[int]) -> str:
    return "{}x{}".format(int(size[1]), int(size[0]))


def reason_text(record: Dict[str, Any], path: str, cached: bool) -> str:
    """The decision as one line: "auto: onnxruntime (timed 412 ms vs torch 980 ms at 1024x512 on this
    machine, cached <path>)", with the candidates left out and why."""
    timings = record["timings_ms"]
    choice = record["choice"]
    others = ["{} {}".format(name, _ms(ms)) for name, ms in sorted(timings.items(), key=lambda item: item[1])
              if name != choice]
    timed = "timed {}{}".format(_ms(timings[choice]), " vs " + ", ".join(others) if others else "")
    if record.get("fallback"):
        timed += "; {}".format(record["fallback"])
    excluded = sorted(record["excluded"].items())
    left_out = "".join("; {} left out: {}".format(name, why) for name, why in excluded)
    where = ("cached {} on {}".format(path, record.get("date", "?")[:10]) if cached
             else "choice cached in {}".format(path))
    size = _size_text(record["key"]["size"])
    return "auto: {} ({} at {} on this machine{}, {})".format(choice, timed, size, left_out, where)


def time_candidates(build: Callable[[str], Backend], model: torch.nn.Module, size: Size,
                    candidates: Sequence[str], timer: TimeRun, runs: int = RUNS
                    ) -> Tuple[Dict[str, Backend], Dict[str, float], Dict[str, float], Dict[str, str]]:
    """Build, check and time each candidate: (the agreeing ones built, their median ms, every built
    one's agreement, the left-out ones and why). None built at all raises the first build error."""
    x = probe_image(size)
    with torch.no_grad():
        reference = model(x).argmax(1)
    built: Dict[str, Backend] = {}
    agreements: Dict[str, float] = {}
    excluded: Dict[str, str] = {}
    first_error: Optional[BaseException] = None
    for name in candidates:
        try:
            backend = build(name)
            labels = backend.labels(x)  # the warm-up run too
        except Exception as error:  # noqa: BLE001 - any failure only leaves this candidate out, and is said
            first_error = first_error or error
            excluded[name] = "could not run: {}".format(_one_line(error))
            LOG.warning("auto: %s left out: %s", name, excluded[name])
            continue
        agreements[name] = label_agreement(labels, reference)
        if agreements[name] < MIN_AGREEMENT:
            excluded[name] = "gives the model's label on only {:.3f}% of the pixels".format(
                100 * agreements[name])
            LOG.warning("auto: %s left out: %s", name, excluded[name])
        built[name] = backend
    if not built:
        raise first_error
    times: Dict[str, List[float]] = {name: [] for name in built}
    for _ in range(runs):
        for name, backend in built.items():
            times[name].append(timer(name, functools.partial(backend.labels, x)))
    medians = {name: 1e3 * statistics.median(values) for name, values in times.items()}
    return built, medians, agreements, excluded


def choose(build: Callable[[str], Backend], model: torch.nn.Module, weights_hash: str, size: Size,
           precision: str = "fp32", cache_dir: Optional[str] = None, force: bool = False,
           candidates: Sequence[str] = AUTO_CANDIDATES, timer: Optional[TimeRun] = None) -> Decision:
    """The fastest agreeing candidate for ``model`` at ``size`` = (H, W), built by ``build(name)``.

    The cached choice for this key where there is one (``force``: time again); else every candidate is
    built, checked and timed (``timer``, default ``time_run``) and the choice cached atomically. Where no
    candidate agrees with the model, the best agreeing one runs, with a warning.
    """
    key = choice_key(weights_hash, size, precision, candidates)
    path = choice_path(key, cache_dir)
    record = None if force else read_choice(path, key)
    if force and os.path.isfile(path):
        LOG.info("auto: force rebuild: timing the backends again (not reading %s)", path)
    if record is not None:
        try:
            backend = build(record["choice"])
        except Exception as error:  # noqa: BLE001 - the cached winner no longer builds: time them all again
            LOG.warning("auto: the cached choice %s (%s) does not build now (%s); timing the backends again",
                        record["choice"], path, _one_line(error))
        else:
            reason = reason_text(record, path, cached=True)
            LOG.info("%s", reason)
            return Decision(record["choice"], reason, backend, path, cached=True)
    LOG.info("auto: timing %s at %s (once for this machine, model and size)", " and ".join(candidates),
             _size_text(size))
    built, medians, agreements, excluded = time_candidates(build, model, size, candidates, timer or time_run)
    agreeing = [name for name in medians if name not in excluded]
    fallback = None
    if agreeing:
        choice = min(agreeing, key=lambda name: medians[name])
    else:
        choice = max(medians, key=lambda name: agreements[name])
        fallback = "none agrees with the model on {:.2f}% of the pixels: the closest runs".format(
            100 * MIN_AGREEMENT)
        LOG.warning("auto: %s; running %s", fallback, choice)
    timings = {name: round(ms, 3) for name, ms in medians.items()}
    record = {"format": FORMAT, "choice": choice, "timings_ms": timings,
              "agreement": agreements, "excluded": excluded, "fallback": fallback, "key": key,
              "runs": RUNS, "date": datetime.datetime.now().isoformat(timespec="seconds")}
    try:
        write_json_atomic(path, record)
    except OSError as error:
        LOG.warning("auto: could not cache the choice in %s (%s); it is timed again at the next start",
                    path, error)
    reason = reason_text(record, path, cached=False)
    LOG.info("%s", reason)
    return Decision(choice, reason, built[choice], path, cached=False)
