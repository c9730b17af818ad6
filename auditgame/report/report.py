"""A report of a log folder: the auditor leaderboard, the organism table and skipped logs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from auditgame.report.board import Leaderboard, build_leaderboard
from auditgame.report.logs import Skipped, read_logs
from auditgame.report.organisms import OrganismTable, build_organism_table


@dataclass
class Report:
    log_dir: Path
    board: Leaderboard
    organisms: OrganismTable
    skipped: list[Skipped]
    logs: list[str]
    """Every log that contributed a number, sorted."""
    calibrations: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Each grader's newest calibration (see `auditgame.report.logs.calibrations`)."""


def build_report(log_dir: str | Path, by: str = "organism") -> Report:
    """Read every log under ``log_dir`` and build both tables."""
    logs = read_logs(log_dir)
    used = set(logs.runs["log"]) | set(logs.measures["log"])
    if not logs.calibrations.empty:
        used |= set(logs.calibrations["log"])
    return Report(
        log_dir=Path(log_dir).resolve(),
        board=build_leaderboard(logs.runs, by),
        organisms=build_organism_table(logs.measures),
        skipped=sorted(logs.skipped, key=lambda s: (s.log, s.reason)),
        logs=sorted(used),
        calibrations=logs.calibrations,
    )
