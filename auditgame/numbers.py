"""Numbers for people: a value and its interval with sensible significant figures.

Every report (the leaderboard, the organism table, the naturalness report) formats numbers
here, so a value reads the same everywhere: about three significant figures of the largest
number shown (at least two decimals below 1), the interval with the value's decimals, and a
true minus sign.
"""

from __future__ import annotations

import math

MINUS = "\u2212"


def decimals_for(*numbers: float) -> int:
    """Decimals that show about three significant figures of the largest of ``numbers``
    (two decimals at least when all are below 1; two significant figures of tiny ones)."""
    largest = max((abs(x) for x in numbers if math.isfinite(x)), default=0.0)
    if largest == 0:
        return 2
    magnitude = math.floor(math.log10(largest))
    if largest < 1:
        return max(2, 1 - magnitude)
    return max(0, 2 - magnitude)


def number(value: float, decimals: int | None = None) -> str:
    """``0.50``, ``12.3``, ``4123``, ``12,345``, ``−0.20``; ``–`` when not a finite number."""
    if value is None or not math.isfinite(value):
        return "–"
    places = decimals_for(value) if decimals is None else decimals
    grouping = "," if places == 0 and abs(value) >= 10_000 else ""
    text = f"{value:{grouping}.{places}f}"
    if text.lstrip("-").strip("0.,") == "":  # -0.00 is 0.00
        text = text.lstrip("-")
    return text.replace("-", MINUS)


def with_interval(value: float, interval: tuple[float, float] | None) -> str:
    """``0.50 [0.15, 0.85]`` (the value alone when there is no interval)."""
    if interval is None:
        return number(value)
    low, high = interval
    places = decimals_for(value, low, high)
    return f"{number(value, places)} [{number(low, places)}, {number(high, places)}]"
