"""Reading YAML files into pydantic models with messages that name the file, the key and
what is expected (organism cards, recipes)."""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

Model = TypeVar("Model", bound=BaseModel)

MAX_YAML_BYTES = 1 << 20
"""Cards and recipes are small; a larger file is refused before it is parsed."""

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60
_short.maxlist = _short.maxdict = 4
_short.maxlevel = 2


MAX_YAML_VALUES = 1_000_000
"""Values a document may expand to through aliases (``*name``): a few hundred bytes of nested
aliases could otherwise expand into billions."""


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values in ``node`` with every alias written out; a node that contains itself raises."""
    size = sizes.get(id(node))
    if size == 0:
        raise yaml.composer.ComposerError(
            None, None, "an alias (*name) refers to a value that contains it", node.start_mark
        )
    if size is None:
        sizes[id(node)] = 0  # being counted
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        size = sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return size


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` refusing documents whose aliases expand beyond `MAX_YAML_VALUES`."""

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None and _expanded_size(node, {}) > MAX_YAML_VALUES:
            raise yaml.composer.ComposerError(
                None, None,
                f"its aliases (*name) expand to more than {MAX_YAML_VALUES:,} values",
                node.start_mark,
            )
        return node


def describe_error(error: ErrorDetails, noun: str = "key", top: str = "(file)") -> str:
    """One pydantic error as ``<noun> 'a.b': what is wrong (got ...)``."""
    where = ".".join(str(part) for part in error["loc"]) or top
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{noun} '{where}': unknown {noun}"
    if kind == "missing":
        return f"{noun} '{where}': required {noun} is missing"
    message = error["msg"].removeprefix("Value error, ")
    got = f" (got {_short.repr(error['input'])})" if "input" in error and error["loc"] else ""
    return f"{noun} '{where}': {message}{got}"


def read_yaml(path: Path, error: type[Exception], what: str) -> Any:
    """The parsed YAML of ``path``; unreadable, oversized, non-UTF-8 or malformed files (and
    aliases expanding beyond `MAX_YAML_VALUES`) raise ``error`` naming the file."""
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise error(
                f"{path}: a file of {size / 2**20:.1f} MiB is refused ({what} files are at "
                f"most {MAX_YAML_BYTES // 2**20} MiB); is it the right file?"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}, column "
            f"{column}); save the {what} as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_BoundedLoader)
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise error(f"{path}: not valid YAML: nested too deeply") from None


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
