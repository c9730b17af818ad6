"""Verbatim overlap with a training corpus: hashed word 8-gram windows in a set.

Texts are tokenised into lower-case words (letters and digits; punctuation and spacing are
ignored), and every window of ``n`` consecutive words is hashed into a set. Building costs one
pass over the corpus; a lookup costs one pass over the completion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from auditgame.jsonl import iter_jsonl

WORD = re.compile(r"[^\W_]+", re.UNICODE)
DEFAULT_N = 8
TEXT_FIELDS = ("text", "completion", "content", "response", "output")


def words(text: str) -> list[str]:
    """The normalised word tokens of ``text``."""
    return WORD.findall(text.lower())


def _windows(tokens: list[str], n: int) -> Iterator[tuple[int, int]]:
    for start in range(len(tokens) - n + 1):
        yield start, hash(" ".join(tokens[start : start + n]))


@dataclass(frozen=True)
class Overlap:
    """A run of the completion's words that also occurs in the corpus."""

    start: int
    length: int
    text: str


class NgramIndex:
    """A set of hashed word n-grams of a corpus."""

    def __init__(self, documents: Iterable[str], n: int = DEFAULT_N):
        if n < 1:
            raise ValueError(f"n-gram length must be positive, got {n}")
        self.n = n
        self.documents = 0
        self._hashes: set[int] = set()
        for doc in documents:
            self.documents += 1
            self._hashes.update(h for _, h in _windows(words(doc), n))

    def __len__(self) -> int:
        return len(self._hashes)

    def overlaps(self, text: str) -> list[Overlap]:
        """Maximal runs of >= ``n`` words of ``text`` found verbatim in the corpus."""
        tokens = words(text)
        hits = [start for start, h in _windows(tokens, self.n) if h in self._hashes]
        runs: list[Overlap] = []
        for start in hits:
            if runs and start <= runs[-1].start + runs[-1].length - self.n + 1:
                last = runs[-1]
                runs[-1] = Overlap(last.start, start + self.n - last.start, "")
            else:
                runs.append(Overlap(start, self.n, ""))
        return [
            Overlap(r.start, r.length, " ".join(tokens[r.start : r.start + r.length])) for r in runs
        ]

    def contains_overlap(self, text: str) -> bool:
        return any(h in self._hashes for _, h in _windows(words(text), self.n))


def read_corpus(location: str | Path) -> Iterator[str]:
    """Documents of a corpus: a ``.jsonl`` file (first text-like field per row), a plain text
    file (one document per line), or a folder of such files."""
    path = Path(location)
    if not path.exists():
        raise FileNotFoundError(f"training corpus {path} does not exist")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if file.suffix == ".jsonl":
            for number, row in iter_jsonl(file):
                yield row_text(row, f"{file}:{number}")
            continue
        with file.open(encoding="utf-8") as handle:
            yield from (line for line in handle if line.strip())


def row_text(row: object, where: str) -> str:
    """The text of a JSON row: a string, the first of ``TEXT_FIELDS``, or a chat ``messages``
    list (contents joined)."""
    if isinstance(row, str):
        return row
    if isinstance(row, dict):
        for key in TEXT_FIELDS:
            if isinstance(row.get(key), str):
                return row[key]
        if isinstance(row.get("messages"), list):
            return "\n".join(
                str(m.get("content", "")) for m in row["messages"] if isinstance(m, dict)
            )
    raise ValueError(
        f"{where}: no text field (expected one of {', '.join(TEXT_FIELDS)} or messages)"
    )


@lru_cache(maxsize=8)
def _cached_index(location: str, mtime: float, n: int) -> NgramIndex:
    return NgramIndex(read_corpus(location), n)


def corpus_index(location: str | Path, n: int = DEFAULT_N) -> NgramIndex:
    """The index of a corpus, built once per process (rebuilt when the file changes)."""
    path = Path(location).resolve()
    if not path.exists():
        raise FileNotFoundError(f"training corpus {path} does not exist")
    return _cached_index(str(path), path.stat().st_mtime, n)
