"""Percentiles of timings: one definition for the node's statistics, the demo and the benchmarks."""

from typing import Iterable, Optional

import numpy as np


def percentile(values: Iterable[float], q: float) -> Optional[float]:
    """The q-th percentile (0..100, linear interpolation as numpy's default); None when empty."""
    array = np.fromiter((float(v) for v in values), np.float64)
    return float(np.percentile(array, q)) if array.size else None
