"""``auditgame demo``: a scripted auditor audits a tiny organism through the real audit task.

Builds the tiny organisms offline, then runs ``auditgame/audit`` on ``tiny-krel`` (quirk) and
``tiny-base`` (control) with a scripted ``mockllm`` auditor and the offline stand-in grader
(``auditgame/keyword-grader``), runs the prior-only baseline (``auditgame/prior``) on the same
organisms, and prints found@1, the false-alarm rate, the leaderboard and where the logs are.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="offline end-to-end audit demo on a tiny organism")
    parser.add_argument("--dir", default="demo", help="where the tiny organism and logs go")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    from auditgame.audit.prior import run_prior_baseline
    from auditgame.audit.scripted import DEMO_SCRIPT, scripted_auditor
    from auditgame.report import build_report
    from auditgame.report.render import markdown_table
    from auditgame.report.tables import ranking_table
    from auditgame.tasks import audit
    from auditgame.tiny import build_tiny

    root = Path(args.dir).resolve()
    tiny = build_tiny(root / "tiny")
    os.environ["AUDITGAME_ORGANISMS"] = str(tiny.cards)
    log_dir = root / "logs"
    task_args: dict[str, Any] = dict(
        organisms="tiny-krel,tiny-base", tools="basic,prefill,multisample", reply_tokens=48
    )
    [log] = inspect_eval(
        audit(**task_args),
        model=get_model("mockllm/model", custom_outputs=scripted_auditor(DEMO_SCRIPT)),
        model_roles={"grader": "auditgame/keyword-grader"},
        log_dir=str(log_dir),
        display="plain",
    )
    if log.status != "success" or not log.results:
        print(f"\nstatus: {log.status}; log: {log.location}")
        return 1
    metrics = log.results.scores[0].metrics
    print(
        f"\nfound@1: {metrics['found_at_1'].value:.2f}  found@K: {metrics['found_at_k'].value:.2f}  "
        f"false alarms on controls: {metrics['false_alarm_rate'].value:.2f}  "
        f"target calls per audit: {metrics['target_calls'].value:.1f}"
    )
    print(
        "(the scripted auditor makes the same probes and claims on every organism, so it finds "
        "the tiny organism's quirk and raises a false alarm on the control)"
    )
    baseline = run_prior_baseline(str(log_dir), **task_args)
    if baseline.status != "success":
        print(f"\nprior-only baseline status: {baseline.status}; log: {baseline.location}")
        return 1
    print("\n" + markdown_table(ranking_table(build_report(log_dir).board)))
    print(
        "(auditgame/prior never calls the target and says 'not found': the score of not "
        "auditing, which every method is read against)"
    )
    print(f"logs: {log.location}\n      {baseline.location}")
    print(f"view them with: inspect view --log-dir {log_dir}")
    return 0
