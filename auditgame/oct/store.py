"""What stages write: JSONL rows appended one at a time, manifests, and the process layout.

Rows are appended and flushed as soon as they exist, so an interrupted stage loses nothing
that was finished. Under ``accelerate launch`` each process appends to its own part file
(``NAME.RANK.jsonl``); readers read all parts. Only the main process writes manifests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from auditgame.jsonl import JsonlError, read_jsonl
from auditgame.oct.errors import OctError

BARRIER_TIMEOUT = timedelta(hours=48)
"""How long processes wait for each other. The API stages run on the main process alone for
hours while the others wait; the process group's default (10 minutes with NCCL) would end the run."""
LIBRARIES = ["auditgame", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "inspect_ai"]


@dataclass(frozen=True)
class Processes:
    """This process's place among ``accelerate launch`` processes (one process: rank 0 of 1)."""

    rank: int
    world: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: list[Any]) -> list[Any]:
        """The items this process handles (every ``world``-th, from ``rank``)."""
        return items[self.rank :: self.world]

    def barrier(self) -> None:
        if self.world > 1:
            _state().wait_for_everyone()


@lru_cache(maxsize=1)
def _state() -> Any:
    from accelerate import PartialState

    return PartialState(timeout=BARRIER_TIMEOUT)


def processes() -> Processes:
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Processes(0, 1, 0)
    state = _state()
    return Processes(state.process_index, state.num_processes, state.local_process_index)


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one JSON row and flush it to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a torn last line (an interrupted write) is ignored."""
    if not path.exists():
        return []
    try:
        return read_jsonl(path, torn_tail=True)
    except JsonlError as exc:
        raise OctError(str(exc)) from None


def part_path(folder: Path, name: str, rank: int) -> Path:
    return folder / f"{name}.{rank}.jsonl"


def read_parts(folder: Path, name: str) -> list[dict[str, Any]]:
    """Rows of every process's part file ``NAME.*.jsonl``, in rank order."""
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob(f"{name}.*.jsonl"), key=lambda p: p.name):
        rows.extend(read_rows(path))
    return rows


def write_rows(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def json_digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def progress(items: Iterable[Any], total: int, desc: str, enabled: bool = True) -> Iterator[Any]:
    """A progress bar on the main process (tqdm, as transformers uses)."""
    from tqdm.auto import tqdm

    yield from tqdm(items, total=total, desc=desc, disable=not enabled, dynamic_ncols=True)
