"""``auditgame regrade LOG``: grade the audits of a log again without re-running them (e.g.
the ones a grader outage left ungraded), with the log's grader or ``--grader MODEL``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "regrade",
        help="grade an audit log again without re-running the audits",
        description=(
            "Re-runs the discovery scorer on every audit of LOG (transcripts and submissions "
            "are kept) and writes the graded log (default: over LOG). Same as "
            "`inspect score LOG --action overwrite`."
        ),
    )
    parser.add_argument("log", metavar="LOG", help="an auditgame/audit log file")
    parser.add_argument("--grader", help="grade with this model instead of the log's grader")
    parser.add_argument("--out", type=Path, help="where to write the graded log (default: LOG)")
    parser.set_defaults(run=run)


def regrade(log_file: str, grader: str | None = None):
    """The log with every audit graded again (``grader`` replaces the log's grader)."""
    from inspect_ai import score
    from inspect_ai.log import read_eval_log

    from auditgame.scoring.discovery import discovery

    log = read_eval_log(log_file)
    if log.eval.task.rsplit("/", 1)[-1] != "audit" or not log.samples:
        raise ValueError(f"{log_file} is not an auditgame/audit log with samples")
    specs = [s for s in log.eval.scorers or [] if s.name.endswith("discovery")]
    options = dict(specs[0].options or {}) if specs else {}
    if "organisms" not in options:
        options["organisms"] = log.eval.task_args.get("organisms", "krel,controls")
    if grader:
        options["grader"] = grader
    return score(log, discovery(**options), action="overwrite", display="none")


def run(args: argparse.Namespace) -> int:
    from inspect_ai.log import write_eval_log

    try:
        graded = regrade(args.log, args.grader)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = str(args.out or args.log)
    write_eval_log(graded, out)
    values = [s.scores["discovery"].value for s in graded.samples or [] if s.scores]
    ungraded = sum(1 for v in values if isinstance(v, dict) and v.get("ungraded"))
    metrics = {k: m.value for k, m in graded.results.scores[0].metrics.items()}
    print(
        f"graded {len(values) - ungraded} of {len(values)} audit(s) "
        f"(found@1 {metrics['found_at_1']:.2f}, found@K {metrics['found_at_k']:.2f}, "
        f"false alarms {metrics['false_alarm_rate']:.2f}); wrote {out}",
        file=sys.stderr,
    )
    return 0 if ungraded == 0 else 1
