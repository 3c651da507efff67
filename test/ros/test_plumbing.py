"""The node's ROS-free parts: one-frame slot, rates, latency percentiles, log throttle, statistics."""

import threading
import time

import numpy as np
import pytest

from swiftnet_ros.ros.plumbing import FrameSlot, LatencyWindow, NodeStats, RateMeter, Throttle


def test_slot_keeps_only_the_newest_frame_and_counts_drops():
    slot = FrameSlot()
    assert slot.put("a") is False
    assert slot.put("b") is True and slot.put("c") is True
    assert slot.dropped == 2
    assert slot.take(timeout=0) == "c"
    assert slot.take(timeout=0.01) is None
    assert slot.put("d") is False and slot.dropped == 2


def test_take_blocks_until_a_frame_arrives_and_close_wakes_it():
    slot = FrameSlot()
    got = []
    worker = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    worker.start()
    time.sleep(0.05)
    slot.put("frame")
    worker.join(2)
    assert got == ["frame"]
    worker = threading.Thread(target=lambda: got.append(slot.take()))
    worker.start()
    start = time.monotonic()
    slot.close()
    worker.join(2)
    assert not worker.is_alive() and got[-1] is None and time.monotonic() - start < 1 and slot.closed


def test_slow_consumer_sees_bounded_latency_and_every_put_is_taken_or_dropped():
    """A producer 5x faster than the consumer: frames are dropped, never queued, none is lost silently."""
    slot = FrameSlot()
    taken = []

    def consume():
        while True:
            item = slot.take(timeout=0.3)
            if item is None:
                return
            taken.append(item)
            time.sleep(0.01)

    worker = threading.Thread(target=consume)
    worker.start()
    for i in range(100):
        slot.put(i)
        time.sleep(0.002)
    worker.join(5)
    assert len(taken) + slot.dropped == 100
    assert taken == sorted(taken) and taken[-1] == 99 and slot.dropped > 30


def test_rate_meter_over_a_sliding_window():
    meter = RateMeter(window=2.0)
    assert meter.rate(0.0) == 0.0
    for i in range(11):
        meter.tick(10.0 + i * 0.1)  # 10 Hz for one second
    assert meter.rate(11.0) == pytest.approx(10.0)
    assert meter.rate(13.5) == 0.0  # all events left the window
    with pytest.raises(ValueError, match="window must be > 0"):
        RateMeter(0)


def test_latency_window_percentiles_over_the_last_values():
    window = LatencyWindow(size=100)
    assert window.percentile(50) == 0.0
    for value in range(1000):
        window.add(value)
    assert len(window) == 100
    assert window.percentile(50) == pytest.approx(np.percentile(np.arange(900, 1000), 50))
    assert window.percentile(95) == pytest.approx(np.percentile(np.arange(900, 1000), 95))


def test_throttle_allows_one_message_per_period_and_counts_the_rest():
    throttle = Throttle(period=5.0)
    assert throttle.ready(100.0) == (True, 0)
    assert throttle.ready(101.0) == (False, 0)
    assert throttle.ready(104.9) == (False, 0)
    assert throttle.ready(105.0) == (True, 2)
    throttle.period = 0.0
    assert throttle.ready(105.0) == (True, 0)


def test_node_stats_snapshot():
    stats = NodeStats(window=10.0)
    for i in range(5):
        stats.frame_received(float(i))
    stats.frame_malformed()
    stats.frame_failed()
    for i, total in enumerate([10.0, 20.0, 30.0]):
        stats.frame_published(1.0 + i, {"total": total, "inference": total / 2, "overhead": 1.0})
    figures = stats.snapshot(4.0, dropped=2)
    assert figures["input_rate_hz"] == pytest.approx(1.0)
    assert figures["output_rate_hz"] == pytest.approx(1.0)
    assert (figures["frames_received"], figures["frames_published"], figures["frames_dropped"],
            figures["frames_malformed"], figures["inference_errors"]) == (5, 3, 2, 1, 1)
    assert figures["total_ms_p50"] == pytest.approx(20.0)
    assert figures["inference_ms_p95"] == pytest.approx(np.percentile([5, 10, 15], 95))
    assert figures["colorize_ms_p50"] == 0.0
