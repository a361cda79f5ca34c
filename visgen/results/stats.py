"""Summaries over replicate runs: mean, sample std and the t-based confidence interval (torch-free)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the two-sided t confidence interval of the mean (df = n - 1).

    With n replicates the half-width is ``t_{(1+level)/2, n-1} * s / sqrt(n)`` (``s``: sample std). For n = 3
    at 95 % that is 4.30 standard errors, not 2: few seeds buy a wide interval.

    Args:
        values: the replicate values [n].
        level: the coverage, in (0, 1).

    Returns:
        ``(mean, half_width)``; the half-width is NaN for fewer than two values (no spread to estimate).
    """
    from scipy.stats import t

    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = statistics.fmean(values)
    if n < 2:
        return mean, math.nan
    return mean, float(t.ppf(0.5 + level / 2, n - 1)) * statistics.stdev(values) / math.sqrt(n)
