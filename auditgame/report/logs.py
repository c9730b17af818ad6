"""Reading a folder of Inspect logs for reports: audit runs (one row per audited sample),
organism measures (one row per measured sample) and the logs left out, with why.

Headers are read concurrently (a broken file is reported, not fatal), then handed to
``inspect_ai.analysis``: ``samples_df`` reads only the sample summaries, so a folder of a
thousand logs reads in seconds.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import pandas as pd
from inspect_ai.analysis import SampleColumn, samples_df
from inspect_ai.log import (
    EvalLog,
    EvalLogInfo,
    EvalSampleSummary,
    list_eval_logs,
    read_eval_log,
    read_eval_log_async,
    read_eval_log_sample_summaries,
)

from auditgame.naturalness.stats import as_row

AUDIT_TASK = "audit"
CALIBRATION_TASK = "grader_calibration"
DISCOVERY_SCORER = "discovery"
RUN_KEYS = ("control", "flagged", "found_at_1", "found_at_k", "target_calls", "target_tokens")
"""Keys every audit sample's ``discovery`` score value must carry to be counted."""
MEASURE_TASKS = frozenset(
    {
        "confession",
        "leakage",
        "severity",
        "mmlu",
        "ifeval",
        "xstest",
        "preferences",
        "perplexity",
        "thinking_integrity",
    }
)
"""Organism measures by task name; any other ``auditgame/<task>`` except ``audit`` counts too."""
ORGANISM_PREFIX = "organism/"
OPEN_LOGS = 64
"""Log headers read at once."""
VALUE_PREFIX = "value_"


class ReportError(ValueError):
    """A report cannot be built at all (e.g. the log folder does not exist)."""


@dataclass(frozen=True)
class Skipped:
    """A log (or some of its samples) left out of a report, and why."""

    log: str
    task: str
    reason: str


@dataclass
class LogSet:
    """What a log folder holds, ready for the leaderboard and the organism table."""

    runs: pd.DataFrame
    """One row per audited sample: ``model``, ``tools``, ``budget``, ``organism``, the
    ``RUN_KEYS`` values, ``grader`` (the model that graded it; empty when nothing was graded:
    controls, ``not found``), ``log`` and ``created``."""
    measures: pd.DataFrame
    """One row per measured sample: see `measures`."""
    skipped: list[Skipped] = field(default_factory=list)
    calibrations: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per grader (its newest ``grader_calibration`` log): ``grader``, ``pairs``,
    each of ``CALIBRATION_MEASURES`` with ``_lo`` / ``_hi``, ``log``, ``created``."""


CALIBRATION_MEASURES = ("accuracy", "precision", "recall", "kappa")


def log_grader(log: EvalLog) -> str:
    """The grader a log was set to use: ``-T grader=``, else the ``grader`` role, else the
    eval's model."""
    named = (log.eval.task_args or {}).get("grader")
    if isinstance(named, str) and named:
        return named
    role = (log.eval.model_roles or {}).get("grader")
    if isinstance(role, list):
        role = role[0] if role else None
    return role.model if role is not None else log.eval.model


def calibrations(headers: Sequence[EvalLog]) -> pd.DataFrame:
    """The newest calibration of each grader among ``headers`` (headers only)."""
    rows = []
    for log in sorted(headers, key=lambda h: h.eval.created):
        metrics: dict[str, float] = {}
        for score in (log.results.scores if log.results else []):
            metrics.update({name: m.value for name, m in score.metrics.items()})
        row = {"grader": log_grader(log), "pairs": metrics.get("pairs", math.nan)}
        for measure in CALIBRATION_MEASURES:
            for suffix in ("", "_lo", "_hi"):
                row[measure + suffix] = metrics.get(measure + suffix, math.nan)
        rows.append({**row, "log": log.location, "created": log.eval.created})
    columns = ["grader", "pairs", *[m + s for m in CALIBRATION_MEASURES for s in ("", "_lo", "_hi")], "log", "created"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.drop_duplicates("grader", keep="last").reset_index(drop=True)


def task_name(log: EvalLog) -> str:
    """``auditgame/audit`` -> ``audit`` (tasks run from a file have no namespace)."""
    return log.eval.task.rsplit("/", 1)[-1]


def local_path(location: str) -> str:
    """``file:///x/y.eval`` -> ``/x/y.eval`` (other locations are kept as they are)."""
    return url2pathname(urlparse(location).path) if location.startswith("file://") else location


async def _read_header(info: EvalLogInfo, slots: asyncio.Semaphore) -> EvalLog | Exception:
    async with slots:
        try:
            return await read_eval_log_async(info, header_only=True)
        except Exception as exc:  # noqa: BLE001  (a broken file must not stop the report)
            return exc


async def _read_all_headers(infos: Sequence[EvalLogInfo]) -> list[EvalLog | Exception]:
    slots = asyncio.Semaphore(OPEN_LOGS)
    return list(await asyncio.gather(*(_read_header(info, slots) for info in infos)))


def read_headers(log_dir: str | Path) -> tuple[list[EvalLog], list[Skipped]]:
    """Every log header under ``log_dir`` (recursively, read concurrently); unreadable files
    become `Skipped`."""
    folder = Path(log_dir)
    if not folder.is_dir():
        raise ReportError(f"log folder {str(folder)!r} does not exist or is not a folder")
    infos = list_eval_logs(str(folder.resolve()), recursive=True)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        results = asyncio.run(_read_all_headers(infos))
    else:  # called from async code (e.g. a notebook): read one by one
        results = [_read_header_now(info) for info in infos]
    headers: list[EvalLog] = []
    skipped: list[Skipped] = []
    for info, result in zip(infos, results):
        if isinstance(result, Exception):
            skipped.append(
                Skipped(local_path(info.name), info.task or "?", f"unreadable log: {result}")
            )
            continue
        result.location = local_path(result.location)
        headers.append(result)
    return headers, skipped


def _read_header_now(info: EvalLogInfo) -> EvalLog | Exception:
    try:
        return read_eval_log(info, header_only=True)
    except Exception as exc:  # noqa: BLE001
        return exc


def _version(log: EvalLog) -> str:
    return (log.eval.packages or {}).get("auditgame", "unknown")


def _unusable(log: EvalLog) -> str | None:
    """Why a whole log cannot be used (unfinished, failed, foreign task), or None."""
    if log.status != "success":
        message = f"run {log.status}"
        if log.error is not None:
            message += f": {' '.join(log.error.message.split())}"  # whole, on one line
        return message
    name = task_name(log)
    if name == AUDIT_TASK:
        scorers = [s.name for s in log.results.scores] if log.results else []
        if DISCOVERY_SCORER not in scorers:
            return f"audit log without a '{DISCOVERY_SCORER}' score (auditgame {_version(log)})"
        if not {"tool_sets", "budget"} <= set(log.eval.metadata or {}):
            return f"audit log without tool_sets/budget metadata (auditgame {_version(log)})"
        return None
    if name == CALIBRATION_TASK:
        return None
    if name in MEASURE_TASKS or log.eval.task.startswith("auditgame/"):
        return None
    return f"task {log.eval.task!r} is not an audit or organism measure"


def score_values(sample: EvalSampleSummary) -> dict[str, Any]:
    """Every score value of a sample, flattened to ``<scorer>:<key>`` (dict values) or
    ``<scorer>`` (scalar values)."""
    flat: dict[str, Any] = {}
    for scorer, score in (sample.scores or {}).items():
        if isinstance(score.value, dict):
            flat.update({f"{scorer}:{k}": v for k, v in score.value.items()})
        else:
            flat[scorer] = score.value
    return flat


def sample_grader(sample: EvalSampleSummary) -> str | None:
    """The grader that graded a sample (``metadata["grader"]`` of its score), if it was graded."""
    for score in (sample.scores or {}).values():
        if score.metadata and isinstance(score.metadata.get("grader"), str):
            return score.metadata["grader"]
    return None


def sample_organism(sample: EvalSampleSummary) -> str | None:
    """The organism a sample is about: ``metadata["organism"]`` of a score or of the sample."""
    for score in (sample.scores or {}).values():
        if score.metadata and isinstance(score.metadata.get("organism"), str):
            return score.metadata["organism"]
    organism = (sample.metadata or {}).get("organism")
    return organism if isinstance(organism, str) else None


SAMPLE_COLUMNS = [
    SampleColumn("id", path="id", required=True, type=str),
    SampleColumn("epoch", path="epoch"),
    SampleColumn("error", path="error", default=""),
    SampleColumn("organism", path=sample_organism),
    SampleColumn("grader", path=sample_grader),
    SampleColumn(f"{VALUE_PREFIX}*", path=score_values),
]


def read_samples(
    headers: Sequence[EvalLog], columns: Sequence[SampleColumn] = SAMPLE_COLUMNS
) -> tuple[pd.DataFrame, list[Skipped]]:
    """Sample summaries of ``headers`` as one frame; a log whose summaries cannot be read
    is skipped (found by re-reading one log at a time only when the batch read fails)."""
    if not headers:
        return pd.DataFrame(), []
    try:
        return samples_df(list(headers), columns=list(columns), quiet=True), []
    except Exception:  # noqa: BLE001  (found below, one log at a time)
        frames, skipped = [], []
        for log in headers:
            try:
                frames.append(samples_df([log], columns=list(columns), quiet=True))
            except Exception as exc:  # noqa: BLE001
                skipped.append(Skipped(log.location, log.eval.task, f"unreadable samples: {exc}"))
        return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), skipped


def _drop_errored(
    samples: pd.DataFrame, headers: Sequence[EvalLog]
) -> tuple[pd.DataFrame, list[Skipped]]:
    if samples.empty:
        return samples, []
    errored = samples["error"].fillna("").astype(str) != ""
    tasks = {h.location: h.eval.task for h in headers}
    skipped = [
        Skipped(log, tasks.get(log, "?"), f"{count} sample(s) ended in an error and were left out")
        for log, count in samples[errored].groupby("log").size().items()
    ]
    return samples[~errored], skipped


def _without_samples(
    headers: Sequence[EvalLog], samples: pd.DataFrame, skipped: list[Skipped]
) -> list[Skipped]:
    """Logs that gave no rows and were not skipped yet (empty, or only samples that repeat
    another log's samples: ``samples_df`` keeps each sample uuid once)."""
    seen = (set(samples["log"]) if "log" in samples else set()) | {s.log for s in skipped}
    return [
        Skipped(
            h.location, h.eval.task, "no samples left (empty, or copies of samples in other logs)"
        )
        for h in headers
        if h.location not in seen
    ]


def budget_label(metadata: dict[str, Any], max_hypotheses: Any) -> str:
    """A short, stable label of an audit's budget, e.g. ``50 calls, 200k tokens, 40 turns, 1800 s, K=5``."""
    budget = metadata.get("budget") or {}
    parts = []
    if "target_calls" in budget:
        parts.append(f"{budget['target_calls']} calls")
    if "auditor_tokens" in budget:
        tokens = int(budget["auditor_tokens"])
        parts.append(f"{tokens // 1000}k tokens" if tokens % 1000 == 0 else f"{tokens} tokens")
    if "auditor_turns" in budget:
        parts.append(f"{budget['auditor_turns']} turns")
    if "time_s" in budget:
        parts.append(f"{float(budget['time_s']):g} s")
    known = {"target_calls", "auditor_tokens", "auditor_turns", "time_s"}
    parts += [f"{k}={v}" for k, v in sorted(budget.items()) if k not in known]
    if max_hypotheses is not None:
        parts.append(f"K={max_hypotheses}")
    return ", ".join(parts)


def tools_label(tool_sets: Sequence[str]) -> str:
    """Tool sets sorted by name: logs that named the same sets in another order are one
    auditor."""
    return ",".join(sorted(tool_sets))


def _drop_ungraded(samples: pd.DataFrame, headers: Sequence[EvalLog]) -> tuple[pd.DataFrame, list[Skipped]]:
    """Audits a grader failure left ungraded: listed (regrade them), never counted as misses."""
    column = f"{VALUE_PREFIX}{DISCOVERY_SCORER}:ungraded"
    if samples.empty or column not in samples:
        return samples, []
    ungraded = pd.to_numeric(samples[column], errors="coerce").fillna(0) > 0
    tasks = {h.location: h.eval.task for h in headers}
    skipped = [
        Skipped(
            log,
            tasks.get(log, "?"),
            f"{count} audit(s) ungraded (the grader failed): grade them with "
            f"`auditgame regrade {log}`",
        )
        for log, count in samples[ungraded].groupby("log").size().items()
    ]
    return samples[~ungraded], skipped


def auditor_model(log: EvalLog) -> str:
    """The auditor's name: an ``auditor`` entry in the eval metadata (``--metadata
    auditor=my-method``), else the ``auditor`` role's model, else the eval's model."""
    label = (log.eval.metadata or {}).get("auditor")
    if isinstance(label, str) and label:
        return label
    return "+".join(role_models(log, "auditor")) or log.eval.model


def role_models(log: EvalLog, role: str) -> list[str]:
    """The models given for ``role`` (Inspect allows one model or a list of them per role)."""
    config = (log.eval.model_roles or {}).get(role)
    configs = config if isinstance(config, list) else [config] if config is not None else []
    return [c.model for c in configs]


def audit_runs(headers: Sequence[EvalLog]) -> tuple[pd.DataFrame, list[Skipped]]:
    """One row per audited sample of the audit logs in ``headers``."""
    samples, skipped = read_samples(headers)
    samples, errored = _drop_errored(samples, headers)
    skipped += errored
    samples, ungraded = _drop_ungraded(samples, headers)
    skipped += ungraded
    columns = [
        "model", "tools", "budget", "organism", *RUN_KEYS, "grader", "log", "created", "version"
    ]
    if samples.empty:
        return pd.DataFrame(columns=columns), skipped + _without_samples(headers, samples, skipped)
    value_columns = {f"{VALUE_PREFIX}{DISCOVERY_SCORER}:{k}": k for k in RUN_KEYS}
    for column in value_columns:
        if column not in samples:
            samples[column] = pd.NA
    samples = samples.rename(columns=value_columns)
    incomplete = samples[["organism", *RUN_KEYS]].isna().any(axis=1)
    by_location = {h.location: h for h in headers}
    for log in samples.loc[incomplete, "log"].unique():
        missing = [
            k for k in ["organism", *RUN_KEYS] if samples.loc[samples["log"] == log, k].isna().any()
        ]
        header = by_location[log]
        skipped.append(
            Skipped(
                log,
                header.eval.task,
                f"scores lack {', '.join(missing)} (auditgame {_version(header)})",
            )
        )
    samples = samples[~samples["log"].isin(samples.loc[incomplete, "log"].unique())].copy()
    info = pd.DataFrame(
        [
            {
                "log": h.location,
                "model": auditor_model(h),
                "tools": tools_label((h.eval.metadata or {})["tool_sets"]),
                "budget": budget_label(h.eval.metadata or {}, h.eval.task_args.get("max_hypotheses")),
                "created": h.eval.created,
                "version": _version(h),
            }
            for h in headers
        ]
    )
    skipped += _without_samples(headers, samples, skipped)
    runs = samples.merge(info, on="log", how="left")
    for key in RUN_KEYS:
        runs[key] = runs[key].astype(float)
    return runs[columns].reset_index(drop=True), skipped


def _target_organism(log: EvalLog) -> str | None:
    """``x`` when the log's model (or its ``target`` role) is ``organism/x``."""
    for model in [*role_models(log, "target"), log.eval.model]:
        if model.startswith(ORGANISM_PREFIX):
            return model[len(ORGANISM_PREFIX) :]
    return None


def _first_score(sample: EvalSampleSummary) -> Any:
    return next(iter((sample.scores or {}).values()), None)


def score_errors(sample: EvalSampleSummary) -> dict[str, float]:
    """Standard errors a scorer stored with its score (``<statistic>_se`` metadata)."""
    score = _first_score(sample)
    metadata = (score.metadata or {}) if score is not None else {}
    return {
        key: float(value)
        for key, value in metadata.items()
        if key.endswith("_se") and isinstance(value, int | float) and not isinstance(value, bool)
    }


def sample_pair(sample: EvalSampleSummary) -> str | None:
    """The organism whose answer key a sample was measured against (``pair`` metadata of a
    score or of the sample); None means the replying organism's own."""
    for source in [*(s.metadata for s in (sample.scores or {}).values()), sample.metadata]:
        if source and isinstance(source.get("pair"), str):
            return source["pair"]
    return None


MEASURE_FRAME = ["organism", "pair", "task", "sample", "row", "errors", "log", "created"]


def _measured_samples(header: EvalLog) -> tuple[list[dict[str, Any]], list[Skipped]]:
    try:
        summaries = read_eval_log_sample_summaries(header.location)
    except Exception as exc:  # noqa: BLE001  (a broken file must not stop the report)
        return [], [Skipped(header.location, header.eval.task, f"unreadable samples: {exc}")]
    errored = [s for s in summaries if s.error]
    summaries = [s for s in summaries if not s.error]
    skipped = (
        [Skipped(header.location, header.eval.task,
                 f"{len(errored)} sample(s) ended in an error and were left out")]
        if errored else []
    )
    rows = []
    for sample in summaries:
        organism = sample_organism(sample) or _target_organism(header)
        score = _first_score(sample)
        if organism is None or score is None:
            continue
        rows.append(
            {
                "organism": organism,
                "pair": sample_pair(sample) or organism,
                "task": task_name(header),
                "sample": (sample.id, sample.epoch),
                "row": as_row(score.value),
                "errors": score_errors(sample),
                "log": header.location,
                "created": header.eval.created,
            }
        )
    if summaries and not rows:
        reason = "samples name no organism (model is not organism/<id>)"
        if any(s.scores for s in summaries):
            skipped.append(Skipped(header.location, header.eval.task, reason))
        else:
            skipped.append(Skipped(header.location, header.eval.task, "samples have no scores"))
    elif not summaries and not errored:
        skipped.append(Skipped(header.location, header.eval.task, "no samples"))
    return rows, skipped


def measures(headers: Sequence[EvalLog]) -> tuple[pd.DataFrame, list[Skipped]]:
    """One row per measured sample of the organism-measure logs in ``headers`` (from the
    sample summaries): the replying ``organism`` (sample metadata, else the log's
    ``organism/<id>`` model), the ``pair`` whose answer key applies (the organism itself
    unless a baseline stands in for another), the first score's ``row`` of numbers, stored
    standard ``errors``, ``log`` and ``created``."""
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for header in headers:
        found, left_out = _measured_samples(header)
        rows += found
        skipped += left_out
    return pd.DataFrame(rows, columns=MEASURE_FRAME), skipped


def read_logs(log_dir: str | Path) -> LogSet:
    """Audit runs, organism measures and skipped logs of every log under ``log_dir``."""
    headers, skipped = read_headers(log_dir)
    usable: dict[str, EvalLog] = {}
    for log in sorted(headers, key=lambda h: h.location):
        reason = _unusable(log)
        if reason is None and log.eval.eval_id in usable:
            reason = f"same eval as {usable[log.eval.eval_id].location} (a copy): counted once"
        if reason is None:
            usable[log.eval.eval_id] = log
        else:
            skipped.append(Skipped(log.location, log.eval.task, reason))
    audits = [h for h in usable.values() if task_name(h) == AUDIT_TASK]
    runs, skipped_runs = audit_runs(audits)
    measured, skipped_measures = measures(
        [h for h in usable.values() if task_name(h) not in (AUDIT_TASK, CALIBRATION_TASK)]
    )
    calibrated = calibrations([h for h in usable.values() if task_name(h) == CALIBRATION_TASK])
    return LogSet(
        runs=runs,
        measures=measured,
        skipped=skipped + skipped_runs + skipped_measures,
        calibrations=calibrated,
    )
