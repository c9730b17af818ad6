"""Checking task arguments as ``-T name=value`` delivers them (YAML-parsed: ``-T x=`` is None,
``-T x=abc`` a string), with an error that names the argument and what it accepts."""

from __future__ import annotations

import math
from typing import Any


class TaskArgumentError(ValueError):
    """A task argument has a value the task cannot use."""


def _fail(name: str, wants: str, value: Any) -> TaskArgumentError:
    return TaskArgumentError(f"task argument '{name}': expected {wants}, got {value!r}")


def whole_number(name: str, value: Any, minimum: int = 1) -> int:
    """An int >= ``minimum`` (``"12"`` is accepted; booleans, fractions and words are not)."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _fail(name, f"a whole number >= {minimum}", value) from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(name, f"a whole number >= {minimum}", value)
    return value


def positive_number(name: str, value: Any) -> float:
    """A finite number > 0."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _fail(name, "a number > 0", value) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, "a number > 0", value)
    if not math.isfinite(value) or value <= 0:
        raise _fail(name, "a number > 0", value)
    return float(value)


def comma_list(name: str, value: Any, example: str) -> str:
    """A non-empty comma-separated list (a YAML list is joined)."""
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        value = ",".join(value)
    if not isinstance(value, str) or not any(part.strip() for part in value.split(",")):
        raise _fail(name, f"a non-empty comma-separated list such as {example!r}", value)
    return value


def optional_text(name: str, value: Any) -> str | None:
    """A string, or None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise _fail(name, "a model name", value)
    return value.strip()
