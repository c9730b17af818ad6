"""Locating the evaluation data shipped with auditgame (each folder has its SOURCE.md)."""

from importlib.resources import files
from pathlib import Path


def data_path(*parts: str) -> Path:
    """Path of a shipped data file or folder, e.g. ``data_path("wikitext2_raw_test", "wiki.test.raw")``."""
    path = Path(str(files("auditgame.data"))).joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"auditgame data file {path} is missing from the installation")
    return path
