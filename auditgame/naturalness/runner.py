"""Running the naturalness measures as Inspect evals, with logs kept and resumed.

Logs go to ``OUT/<organism>/<measure>-<settings hash>/``. A folder that already holds a
successful log is reused; an unfinished one is retried with ``eval_retry`` (finished samples
are kept); otherwise a fresh eval runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditgame.cards import Organism
from auditgame.naturalness.measures import Measure

if TYPE_CHECKING:
    from inspect_ai.util import DisplayType


@dataclass(frozen=True)
class RunSettings:
    limit: int | None = None
    task_args: dict[str, dict[str, Any]] | None = None
    """Extra task args per measure name."""
    grader: str | None = None
    """Model for the ``grader`` role (XSTest's rubric)."""
    display: DisplayType = "plain"


def settings_key(task_args: dict[str, Any], limit: int | None, grader: str | None = None) -> str:
    blob = json.dumps({"args": task_args, "limit": limit, "grader": grader}, sort_keys=True,
                      default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def log_dir_for(out: Path, organism: str, measure: Measure, task_args: dict[str, Any],
                limit: int | None, grader: str | None = None) -> Path:
    key = settings_key(task_args, limit, grader if measure.uses_grader else None)
    return out / organism / f"{measure.name}-{key}"


def _latest_log(folder: Path) -> tuple[str, str] | None:
    """(location, status) of the newest log in ``folder``."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    if not folder.is_dir():
        return None
    logs = list_eval_logs(str(folder), recursive=False)
    if not logs:
        return None
    newest = max(logs, key=lambda info: info.mtime or 0)
    header = read_eval_log(newest, header_only=True)
    return newest.name.removeprefix("file://"), header.status


def run_measure(out: Path, card: Organism, measure: Measure, settings: RunSettings,
                baseline: str | None = None) -> tuple[str, str]:
    """Run (or reuse / resume) one measure on one organism (with ``baseline`` in the same log,
    for a measure with a ``baseline_arg``): the log's location and status."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai import eval_retry

    task_args, limit = measure.run_options(card.id, settings.limit, baseline)
    task_args = {**task_args, **(settings.task_args or {}).get(measure.name, {})}
    folder = log_dir_for(out, card.id, measure, task_args, limit, settings.grader)
    found = _latest_log(folder)
    if found and found[1] == "success":
        return found
    if found:
        [log] = eval_retry(found[0], log_dir=str(folder), display=settings.display)
    else:
        roles = {"grader": settings.grader} if settings.grader and measure.uses_grader else None
        [log] = inspect_eval(
            measure.task, model=f"organism/{card.id}", task_args=task_args, limit=limit,
            log_dir=str(folder), model_roles=roles, display=settings.display,
        )
    return log.location, log.status
