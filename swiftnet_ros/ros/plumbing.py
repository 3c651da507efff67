"""The ROS-free plumbing of the segmentation node: the one-frame slot, statistics and a log throttle.

The node's subscription callback stores frames in a ``FrameSlot`` and a worker thread takes them
out, so the callback never waits for the model; ``NodeStats`` gathers what /diagnostics reports.
What the worker does with a frame is ``frame_pipeline``. All of it is plain Python, so tests drive
it without ROS.
"""

import threading
import time
from collections import deque
from typing import Any, Dict, Optional, Tuple

from swiftnet_ros.stats import percentile


class FrameSlot:
    """Holds only the newest frame: a new one replaces (drops) a frame the worker has not taken yet.

    Keeping one frame bounds latency when the camera is faster than the model: the worker always
    segments the most recent image and never works through a backlog.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item = None  # type: Any
        self._closed = False
        self.dropped = 0

    def put(self, item: Any) -> bool:
        """Store ``item``; True if it replaced a frame that was still waiting (counted in ``dropped``)."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self._cond.notify()
        return replaced

    def take(self, timeout: Optional[float] = None) -> Any:
        """The waiting frame (removing it), or None after ``timeout`` seconds or once closed."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._item is None and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake the worker for good (shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class RateMeter:
    """Events per second over a sliding time window."""

    def __init__(self, window: float = 5.0) -> None:
        if window <= 0:
            raise ValueError("window must be > 0 seconds, got {}".format(window))
        self.window = window
        self._times = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()

    def rate(self, now: float) -> float:
        """(n - 1) / span of the events in the window; 0 with fewer than two events."""
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class LatencyWindow:
    """The last ``size`` values of one measurement (milliseconds), with percentiles."""

    def __init__(self, size: int = 500) -> None:
        self._values = deque(maxlen=size)

    def add(self, value: float) -> None:
        self._values.append(float(value))

    def __len__(self) -> int:
        return len(self._values)

    def percentile(self, q: float) -> float:
        """The q-th percentile (0..100); 0.0 while empty."""
        value = percentile(self._values, q)
        return 0.0 if value is None else value


class Throttle:
    """At most one message per ``period`` seconds; counts what it held back in between."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._last = None  # type: Optional[float]
        self.suppressed = 0

    def ready(self, now: float) -> Tuple[bool, int]:
        """(whether to log now, how many messages were held back since the last one logged)."""
        if self._last is not None and now - self._last < self.period:
            self.suppressed += 1
            return False, 0
        held, self.suppressed, self._last = self.suppressed, 0, now
        return True, held


STAGES = ("conversion", "inference", "colorize", "publish", "overhead", "total")

# Frames larger than this were lost whole between two processes of one machine with best-effort QoS
# (Fast DDS defaults and LARGE_DATA alike; bench/qos_frame_sizes.py, bench/results/qos_frame_sizes.json):
# 480x360 rgb8 (506 KiB) arrived, 640x360 (675 KiB) and 4000x3000 (36 MB) never did; reliable QoS
# delivered them all.
BEST_EFFORT_FRAME_LIMIT_KIB = 512
INPUT_QUIET_S = 5.0  # seconds with a matched publisher and no frame before diagnostics warn


class InputWatch:
    """Notices matched publishers whose frames do not arrive: with best-effort input QoS, frames over
    about ``BEST_EFFORT_FRAME_LIMIT_KIB`` are lost whole by the transport, silently."""

    def __init__(self, quiet_s: float = INPUT_QUIET_S) -> None:
        self.quiet_s = quiet_s
        self._matched_since = None  # type: Optional[float]

    def quiet_for(self, now: float, publishers: int, last_frame: Optional[float]) -> Optional[float]:
        """Seconds since a frame (or since a publisher matched) once that is ``quiet_s`` or more while
        publishers are matched; else None."""
        if publishers < 1:
            self._matched_since = None
            return None
        if self._matched_since is None:
            self._matched_since = now
        start = self._matched_since if last_frame is None else max(self._matched_since, last_frame)
        quiet = now - start
        return quiet if quiet >= self.quiet_s else None


def quiet_input_message(publishers: int, topic: str, quiet_s: float, best_effort: bool) -> str:
    """What diagnostics say when matched publishers send no frame; the likely cause and what to set."""
    text = "{} publisher(s) matched on {} but no frame for {:.0f} s".format(publishers, topic, quiet_s)
    if best_effort:
        return text + ("; best-effort input QoS loses frames over about {} KiB whole (640x360 rgb8 and "
                       "larger): set input_qos: reliable, or send compressed images".format(
                           BEST_EFFORT_FRAME_LIMIT_KIB))
    return text + "; is the publisher sending?"


class NodeStats:
    """Counters, rates and latencies of the node, shared by the callback and the worker (locked)."""

    def __init__(self, window: float = 5.0, samples: int = 500) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self.last_received = None  # type: Optional[float]
        self.malformed = 0
        self.published = 0
        self.errors = 0
        self._input = RateMeter(window)
        self._output = RateMeter(window)
        self._ms = {stage: LatencyWindow(samples) for stage in STAGES}

    def frame_received(self, now: float) -> None:
        with self._lock:
            self.received += 1
            self.last_received = now
            self._input.tick(now)

    def frame_malformed(self) -> None:
        with self._lock:
            self.malformed += 1

    def frame_failed(self) -> None:
        with self._lock:
            self.errors += 1

    def frame_published(self, now: float, timings_ms: Dict[str, float]) -> None:
        """Record one answered frame; ``timings_ms`` has some of STAGES."""
        with self._lock:
            self.published += 1
            self._output.tick(now)
            for stage, value in timings_ms.items():
                self._ms[stage].add(value)

    def snapshot(self, now: float, dropped: int) -> Dict[str, float]:
        """Every figure /diagnostics reports, as numbers."""
        with self._lock:
            figures = {
                "input_rate_hz": self._input.rate(now),
                "output_rate_hz": self._output.rate(now),
                "frames_received": self.received,
                "frames_published": self.published,
                "frames_dropped": dropped,
                "frames_malformed": self.malformed,
                "inference_errors": self.errors,
            }
            for stage in STAGES:
                figures["{}_ms_p50".format(stage)] = self._ms[stage].percentile(50)
                figures["{}_ms_p95".format(stage)] = self._ms[stage].percentile(95)
        return figures
