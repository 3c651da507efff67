"""One percentile for the node's statistics, the demo and the benchmarks."""

import pytest

from swiftnet_ros.ros.plumbing import LatencyWindow
from swiftnet_ros.stats import percentile


def test_percentile_interpolates_like_numpy_and_is_none_when_empty():
    assert percentile([1.0, 2.0, 3.0, 4.0], 90) == pytest.approx(3.7)
    assert percentile(iter([5, 1, 3]), 50) == 3.0
    assert percentile([], 95) is None


def test_the_node_window_uses_it_and_reports_zero_while_empty():
    window = LatencyWindow(size=3)
    assert window.percentile(95) == 0.0
    for value in (10, 1, 2, 3):  # the oldest value falls out of the window
        window.add(value)
    assert window.percentile(50) == 2.0
