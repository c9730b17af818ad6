"""Library output kept off the terminal: progress bars, warnings and trainer logs go to a file,
only the lines a command means to show reach the user."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TAIL_LINES = 40
"""Lines of captured output shown when the block fails."""

Show = Callable[..., None]


@contextlib.contextmanager
def captured(path: str | Path | None = None) -> Iterator[Show]:
    """Send everything written to file descriptors 1 and 2 (by Python, C extensions and
    subprocesses alike) to ``path`` (a temporary file when None) while the block runs; yields
    ``show``, a ``print`` that still reaches the terminal. If the block raises, the last
    `TAIL_LINES` captured lines are printed to stderr (naming the file) before the error
    propagates."""
    terminal = os.fdopen(os.dup(1), "w", buffering=1)

    def show(*parts: Any, **kwargs: Any) -> None:
        print(*parts, file=terminal, flush=True, **kwargs)

    with contextlib.ExitStack() as stack:
        stack.callback(terminal.close)
        if path is None:
            sink = stack.enter_context(tempfile.TemporaryFile(mode="w+", prefix="auditgame-output-"))
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            sink = stack.enter_context(open(path, "w+", encoding="utf-8"))
        saved = os.dup(1), os.dup(2)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield show
        except BaseException:
            _restore(saved)
            sink.seek(0)
            tail = sink.read().splitlines()[-TAIL_LINES:]
            where = f" ({path})" if path is not None else ""
            print("\n".join([f"--- captured output{where}, last lines ---", *tail]), file=sys.stderr)
            raise
        else:
            _restore(saved)


def _restore(saved: tuple[int, int]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    for target, fd in zip((1, 2), saved):
        os.dup2(fd, target)
        os.close(fd)
