"""What every bench shares: it prints its figures and nothing else.

`run_bench` pins torch's thread count (printed first), then runs the bench with everything the
libraries write (progress bars, warnings, log lines, training logs, Inspect's display) sent to
a file instead of the terminal; only `show` reaches it. If the bench fails, the tail of that
file is printed with the error. Not a bench itself (``make bench`` skips ``_*.py``).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any

from auditgame.console import Show, captured

_show: Show | None = None


def show(*parts: Any, **kwargs: Any) -> None:
    """``print`` to the terminal, past the capture."""
    (_show or print)(*parts, **kwargs)


def run_bench(main: Callable[[], int | None], threads: int | None = 1) -> None:
    """Run a bench's ``main`` (``threads``: torch threads to pin; None when the bench pins and
    prints them itself) and exit with its status."""
    global _show
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
        show(f"torch threads: {torch.get_num_threads()}")
    status: int | None = 1
    try:
        with captured() as _show:
            status = main()
            if status:
                raise SystemExit(status)
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001  (the captured output's tail is already shown)
        traceback.print_exc()
        status = 1
    sys.exit(status or 0)
