"""``auditgame prefs fit FILE.jsonl``: Thurstone utilities and mu-decisiveness from comparisons."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prefs", help="preference coherence of your own comparisons")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fit = sub.add_parser("fit", help='fit rows {"a", "b", "p_a"[, "weight"]} (JSON lines)')
    fit.add_argument("file")
    fit.add_argument("--holdout", type=float, default=0.05, help="share of pairs held out")
    fit.add_argument("--bootstrap", type=int, default=50, help="refits for the standard error")
    fit.add_argument("--model", choices=["thurstonian", "case_v"], default="thurstonian",
                     help="a variance per outcome (Utility Engineering, default) or one shared")
    fit.set_defaults(run=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    from auditgame.jsonl import iter_jsonl
    from auditgame.naturalness.preferences import coherence, comparisons_from_rows

    try:
        numbered = list(iter_jsonl(args.file))
        comparisons, names = comparisons_from_rows(
            [row for _, row in numbered], where=[f"{args.file}:{n}" for n, _ in numbered]
        )
    except ValueError as exc:  # JsonlError and row errors both say FILE:LINE
        raise SystemExit(f"error: {exc}") from None
    result = coherence(comparisons, len(names), args.holdout, bootstrap=args.bootstrap,
                       model=args.model)
    print(json.dumps({
        "model": result.model,
        "items": len(names),
        "comparisons": result.comparisons,
        "pairs": result.pairs,
        "decisiveness": result.decisiveness,
        "decisiveness_se": result.decisiveness_se,
        "holdout_accuracy": result.holdout_accuracy,
        "intransitive_share": result.intransitive_share,
        "log_likelihood": result.log_likelihood,
        "utilities": dict(zip(names, result.utilities)),
        "variances": dict(zip(names, result.variances)),
    }, indent=2))
    return 0
