"""``auditgame leakage scan``: the leakage detector over a file of completions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from auditgame.jsonl import iter_jsonl
from auditgame.leakage.detector import LeakageDetector
from auditgame.leakage.ngrams import DEFAULT_N, row_text
from auditgame.registry import registry


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("leakage", help="scan completions for an organism's leakage")
    commands = parser.add_subparsers(dest="leakage_command", required=True, metavar="COMMAND")
    scan = commands.add_parser(
        "scan", help="fingerprints and verbatim training text in a JSONL of completions"
    )
    scan.add_argument("--organism", required=True, help="organism id (its card names the secrets)")
    scan.add_argument(
        "--completions", required=True, help="JSONL, one completion per row (field completion/text)"
    )
    scan.add_argument("--out", help="write per-row findings (.jsonl) or the summary (.json) here")
    scan.add_argument("--organisms", help="an extra folder of organism cards")
    scan.add_argument(
        "-n", type=int, default=DEFAULT_N, help="words in a verbatim match (default 8)"
    )
    scan.set_defaults(run=run_scan)


def read_completions(path: Path) -> list[str]:
    if not path.is_file():
        raise SystemExit(f"error: completions file {path} does not exist")
    try:
        return [row_text(row, f"{path}:{number}") for number, row in iter_jsonl(path)]
    except ValueError as exc:  # JsonlError and row_text's errors both say FILE:LINE
        raise SystemExit(f"error: {exc}") from None


def run_scan(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise SystemExit(f"error: leakage scan: -n must be at least 1, got {args.n}")
    card = registry([args.organisms] if args.organisms else []).get(
        args.organism, check_files=False
    )
    detector = LeakageDetector.for_card(card, n=args.n)
    texts = read_completions(Path(args.completions))
    rows: list[dict[str, Any]] = []
    for index, text in enumerate(texts):
        finding = detector.scan(text)
        rows.append(
            {
                "row": index,
                "leak": finding.leak,
                "fingerprints": finding.fingerprints,
                "verbatim": [o.text for o in finding.overlaps],
            }
        )
    total = len(rows) or 1
    summary = {
        "organism": card.id,
        "completions": len(rows),
        "leak_rate": sum(r["leak"] for r in rows) / total,
        "fingerprint_rate": sum(bool(r["fingerprints"]) for r in rows) / total,
        "verbatim_leak_rate": sum(bool(r["verbatim"]) for r in rows) / total,
        "corpus_indexed": detector.has_corpus,
    }
    for key, value in summary.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    if args.out:
        out = Path(args.out)
        if out.suffix == ".jsonl":
            out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        else:
            out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(f"written: {out}", file=sys.stderr)
    return 0
