"""Reading JSON-lines files: one reader, whose errors name the file and the line.

Lines are split at ``\\n`` (and ``\\r\\n``) only: ``str.splitlines`` would also split inside a
row at U+2028 and other Unicode line breaks, which ``json.dumps(..., ensure_ascii=False)``
writes unescaped, and then both the row and every later line number would be wrong. Line
numbers count every line of the file, blank ones included (blank lines hold no row).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class JsonlError(ValueError):
    """A line of a JSON-lines file that is not JSON (the message says ``FILE:LINE: ...``)."""


def iter_jsonl(path: str | Path, torn_tail: bool = False) -> Iterator[tuple[int, Any]]:
    """``(line number, row)`` for each non-blank line of ``path``, read as it goes.

    ``torn_tail``: a last row that is not JSON (a write interrupted mid-line) is dropped
    instead of raising; a bad line with rows after it still raises.
    """
    path = Path(path)
    torn: JsonlError | None = None
    with path.open(encoding="utf-8", newline="") as handle:
        for number, line in enumerate(_lines(handle), start=1):
            if not line.strip():
                continue
            if torn is not None:
                raise torn
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                error = JsonlError(f"{path}:{number}: not valid JSON ({exc.msg}, column {exc.colno})")
                if not torn_tail:
                    raise error from None
                torn = error
                continue
            yield number, row


def _lines(handle: Any) -> Iterator[str]:
    """The file's lines split at ``\\n`` only (a text file's own iteration with newline=""
    would also end a line at a lone ``\\r``)."""
    rest = ""
    while chunk := handle.read(1 << 16):
        parts = (rest + chunk).split("\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def read_jsonl(path: str | Path, torn_tail: bool = False) -> list[Any]:
    """The rows of a JSON-lines file (blank lines skipped; see `iter_jsonl`)."""
    return [row for _, row in iter_jsonl(path, torn_tail)]
