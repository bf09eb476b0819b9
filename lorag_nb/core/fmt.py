"""Number and text helpers every layer shares: percentages, percentiles, MiB, seconds."""
from __future__ import annotations

import math
from typing import Sequence


def pct(x: float | None, digits: int = 0) -> str:
    """A fraction as a percentage (``0.256`` → ``"26%"``); ``"n/a"`` for None or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.{digits}f}%"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values`` by linear interpolation between order statistics (NumPy's
    default, "linear" method; Hyndman & Fan 1996, definition 7); NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; NaN for no values."""
    return sum(values) / len(values) if values else float("nan")


def p50(values: Sequence[float]) -> float:
    """The median of ``values`` (:func:`percentile` at 0.5; NaN if empty)."""
    return percentile(values, 0.5)


def mib(n_bytes: float | None) -> float | None:
    """Bytes → MiB (2**20 bytes); None stays None."""
    return None if n_bytes is None else n_bytes / 2**20


def seconds(x: float | None) -> str:
    """Seconds for prose: two decimals below 10 s, whole seconds above; ``"n/a"`` for None."""
    if x is None:
        return "n/a"
    return f"{x:.2f} s" if x < 10 else f"{x:.0f} s"


def cap(items: list, n: int | None) -> list:
    """The first ``n`` items (all of them when ``n`` is None): how every evaluation caps its questions."""
    return items if n is None else items[:n]
