"""``auditgame leaderboard LOGDIR``: rank auditors and tabulate organisms from Inspect logs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard",
        help="auditor leaderboard and organism table from a folder of Inspect logs",
        description=(
            "Reads every log under LOGDIR: audit logs rank auditors (model + tool sets + budget) "
            "by found@K on quirky organisms minus false alarms on controls; confession, leakage, "
            "severity and naturalness logs fill the organism table. Unfinished, failed, foreign "
            "or incompatible logs are listed as skipped."
        ),
    )
    parser.add_argument(
        "log_dir", metavar="LOGDIR", help="folder of Inspect logs (searched recursively)"
    )
    parser.add_argument("--format", choices=["md", "csv", "html", "png"], default="md")
    parser.add_argument(
        "--by",
        choices=["organism", "suite", "tools"],
        default="organism",
        help="leaderboard columns",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="output file (md: default stdout; csv: X.csv plus X.organisms.csv and X.skipped.csv; "
        "html/png: default leaderboard.<format>)",
    )
    parser.add_argument(
        "--title", default="Auditing leaderboard", help="page title (md and html)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from auditgame.report import build_report
    from auditgame.report.logs import ReportError
    from auditgame.report.render import to_markdown, write_report

    try:
        report = build_report(args.log_dir, by=args.by)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for skipped in report.skipped:
        print(f"skipped {skipped.log} ({skipped.task}): {skipped.reason}", file=sys.stderr)
    if args.format == "md" and args.out is None:
        sys.stdout.write(to_markdown(report, args.title))
    else:
        for path in write_report(report, args.format, args.out, args.title):
            print(f"wrote {path}", file=sys.stderr)
    runs = 0 if report.board.empty else int(sum(e.n for e in report.board.ranking["runs"]))
    print(
        f"{len(report.board.ranking)} auditor(s), {runs} audit run(s), "
        f"{len({r.organism for r in report.organisms.rows})} organism(s) measured, "
        f"{len(report.skipped)} skipped",
        file=sys.stderr,
    )
    return 0
