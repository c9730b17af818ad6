"""Reading a folder of Inspect logs for reports: audit runs (one row per audited sample),
organism measures (one value per organism, task and metric) and the logs left out, with why.

Headers are read one by one (a broken file is reported, not fatal), then handed to
``inspect_ai.analysis``: ``samples_df`` reads only the sample summaries, ``evals_df`` only
the headers, so a folder of a thousand logs reads in seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import pandas as pd
from inspect_ai.analysis import EvalScores, SampleColumn, evals_df, samples_df
from inspect_ai.log import (
    EvalLog,
    EvalLogInfo,
    EvalSampleSummary,
    list_eval_logs,
    read_eval_log,
    read_eval_log_async,
)

AUDIT_TASK = "audit"
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
    ``RUN_KEYS`` values, ``log`` and ``created``."""
    measures: pd.DataFrame
    """One row per organism, task and metric: ``organism``, ``task``, ``measure``, ``value``,
    ``samples``, ``log``, ``created``."""
    skipped: list[Skipped] = field(default_factory=list)


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
    SampleColumn(f"{VALUE_PREFIX}*", path=score_values),
]


def read_samples(headers: Sequence[EvalLog]) -> tuple[pd.DataFrame, list[Skipped]]:
    """Sample summaries of ``headers`` as one frame; a log whose summaries cannot be read
    is skipped (found by re-reading one log at a time only when the batch read fails)."""
    if not headers:
        return pd.DataFrame(), []
    try:
        return samples_df(list(headers), columns=SAMPLE_COLUMNS, quiet=True), []
    except Exception:  # noqa: BLE001  (found below, one log at a time)
        frames, skipped = [], []
        for log in headers:
            try:
                frames.append(samples_df([log], columns=SAMPLE_COLUMNS, quiet=True))
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


def auditor_model(log: EvalLog) -> str:
    """The auditor's name: an ``auditor`` entry in the eval metadata (``--metadata
    auditor=my-method``), else the ``auditor`` role's model, else the eval's model."""
    label = (log.eval.metadata or {}).get("auditor")
    if isinstance(label, str) and label:
        return label
    role = (log.eval.model_roles or {}).get("auditor")
    return role.model if role is not None else log.eval.model


def audit_runs(headers: Sequence[EvalLog]) -> tuple[pd.DataFrame, list[Skipped]]:
    """One row per audited sample of the audit logs in ``headers``."""
    samples, skipped = read_samples(headers)
    samples, errored = _drop_errored(samples, headers)
    skipped += errored
    columns = ["model", "tools", "budget", "organism", *RUN_KEYS, "log", "created", "version"]
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
                "tools": tools_label(h.eval.metadata["tool_sets"]),
                "budget": budget_label(h.eval.metadata, h.eval.task_args.get("max_hypotheses")),
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
    role = (log.eval.model_roles or {}).get("target")
    for model in (role.model if role else None, log.eval.model):
        if model and model.startswith(ORGANISM_PREFIX):
            return model[len(ORGANISM_PREFIX) :]
    return None


def measures(headers: Sequence[EvalLog]) -> tuple[pd.DataFrame, list[Skipped]]:
    """Organism measures: a log of ``organism/<id>`` gives its eval-level metrics (headers
    only); a log of several organisms (``metadata["organism"]`` per sample) gives the mean
    of each score value per organism."""
    columns = ["organism", "task", "measure", "value", "samples", "log", "created"]
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    whole = [h for h in headers if _target_organism(h)]
    per_sample = [h for h in headers if not _target_organism(h)]
    if whole:
        evals = evals_df(list(whole), columns=EvalScores, quiet=True)
        evals = evals.set_index("eval_id")
        for log in whole:
            scores = evals.loc[log.eval.eval_id]
            for column, value in scores.items():
                if str(column).startswith("score_headline") or not str(column).startswith("score_"):
                    continue
                if pd.isna(value) or isinstance(value, str):
                    continue
                rows.append(
                    {
                        "organism": _target_organism(log),
                        "task": task_name(log),
                        "measure": str(column)[len("score_") :],
                        "value": float(value),
                        "samples": log.results.completed_samples if log.results else 0,
                        "log": log.location,
                        "created": log.eval.created,
                    }
                )
    samples, unread = read_samples(per_sample)
    skipped += unread
    samples, errored = _drop_errored(samples, per_sample)
    skipped += errored
    skipped += _without_samples(per_sample, samples, skipped)
    if not samples.empty:
        by_location = {h.location: h for h in per_sample}
        no_organism = samples[samples["organism"].isna()]["log"].unique()
        skipped += [
            Skipped(
                log,
                by_location[log].eval.task,
                "samples name no organism (model is not organism/<id>)",
            )
            for log in no_organism
        ]
        samples = samples[samples["organism"].notna()]
        value_columns = [c for c in samples.columns if str(c).startswith(VALUE_PREFIX)]
        long = samples.melt(
            id_vars=["log", "organism"], value_vars=value_columns, var_name="measure"
        )
        long["value"] = pd.to_numeric(long["value"], errors="coerce")
        grouped = long.dropna(subset=["value"]).groupby(["log", "organism", "measure"])["value"]
        for (log, organism, measure), values in grouped:
            header = by_location[log]
            rows.append(
                {
                    "organism": organism,
                    "task": task_name(header),
                    "measure": measure[len(VALUE_PREFIX) :].split(":")[-1],
                    "value": float(values.mean()),
                    "samples": int(values.size),
                    "log": log,
                    "created": header.eval.created,
                }
            )
    return pd.DataFrame(rows, columns=columns), skipped


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
        [h for h in usable.values() if task_name(h) != AUDIT_TASK]
    )
    return LogSet(runs=runs, measures=measured, skipped=skipped + skipped_runs + skipped_measures)
