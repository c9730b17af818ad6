"""What every bench shares: it prints its figures and nothing else.

`run_bench` pins torch's thread count (printed first), then runs the bench with everything the
libraries write (progress bars, warnings, log lines, training logs, Inspect's display) sent to
a file instead of the terminal; only `show` reaches it. If the bench fails, the tail of that
file is printed with the error. Not a bench itself (``make bench`` skips ``_*.py``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any, TextIO

TAIL_LINES = 40
"""Lines of captured output shown when a bench fails."""

_terminal: TextIO | None = None


def show(*parts: Any, **kwargs: Any) -> None:
    """``print`` to the terminal, past the capture."""
    print(*parts, file=_terminal or sys.stdout, flush=True, **kwargs)


def run_bench(main: Callable[[], int | None], threads: int | None = 1) -> None:
    """Run a bench's ``main`` (``threads``: torch threads to pin; None when the bench pins and
    prints them itself) and exit with its status."""
    global _terminal
    _terminal = os.fdopen(os.dup(1), "w", buffering=1)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
        show(f"torch threads: {torch.get_num_threads()}")
    with tempfile.TemporaryFile(mode="w+", prefix="bench-output-") as captured:
        saved = os.dup(1), os.dup(2)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(captured.fileno(), 1)
        os.dup2(captured.fileno(), 2)
        status: int | None = 1
        failure = ""
        try:
            status = main()
        except BaseException:  # noqa: BLE001  (shown below with the captured output)
            failure = traceback.format_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
        if failure or status:
            captured.seek(0)
            tail = captured.read().splitlines()[-TAIL_LINES:]
            print("\n".join(["--- captured output (last lines) ---", *tail, failure]),
                  file=sys.stderr)
    sys.exit(1 if failure else (status or 0))
