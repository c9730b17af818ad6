"""Reading YAML files into pydantic models with messages that name the file, the key and
what is expected (organism cards, recipes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

Model = TypeVar("Model", bound=BaseModel)


def describe_error(error: ErrorDetails, noun: str = "key", top: str = "(file)") -> str:
    """One pydantic error as ``<noun> 'a.b': what is wrong (got ...)``."""
    where = ".".join(str(part) for part in error["loc"]) or top
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{noun} '{where}': unknown {noun}"
    if kind == "missing":
        return f"{noun} '{where}': required {noun} is missing"
    message = error["msg"].removeprefix("Value error, ")
    got = f" (got {repr(error['input'])[:80]})" if "input" in error and error["loc"] else ""
    return f"{noun} '{where}': {message}{got}"


def read_yaml(path: Path, error: type[Exception], what: str) -> Any:
    """The parsed YAML of ``path``; unreadable or malformed files raise ``error``."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None


def validate_mapping(
    model: type[Model],
    data: Any,
    source: Path,
    error: type[Exception],
    what: str,
    noun: str = "key",
    **extra: Any,
) -> Model:
    """Validate ``data`` (read from ``source``) as ``model``, with ``extra`` fields added."""
    if not isinstance(data, dict):
        raise error(f"{source}: expected a YAML mapping of {what} {noun}s, got {type(data).__name__}")
    try:
        return model.model_validate({**data, **extra})
    except ValidationError as exc:
        problems = "\n  ".join(describe_error(e, noun) for e in exc.errors())
        raise error(f"{source}: invalid {what}\n  {problems}") from None
