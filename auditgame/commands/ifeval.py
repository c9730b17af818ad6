"""``auditgame ifeval check FILE.jsonl``: IFEval accuracy of replies made elsewhere."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ifeval", help="IFEval checks on your own replies")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = sub.add_parser("check", help='score rows {"key", "response"} (JSON lines)')
    check.add_argument("file")
    check.add_argument("--details", action="store_true", help="also print each prompt's outcome")
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    from auditgame.jsonl import JsonlError, iter_jsonl
    from auditgame.naturalness.ifeval import check_reply, prompts_by_key, summarize

    prompts = prompts_by_key()
    results = []
    try:
        rows = list(iter_jsonl(args.file))
    except JsonlError as exc:
        raise SystemExit(f"error: {exc}") from None
    for n, row in rows:
        try:
            prompt, response = prompts[int(row["key"])], row["response"]
            if not isinstance(response, str):
                raise TypeError(f"response is {type(response).__name__}")
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"error: {args.file}:{n}: need {{'key': IFEval key, 'response': str}} ({exc!r})") from None
        result = check_reply(prompt, response)
        results.append(result)
        if args.details:
            print(json.dumps({"key": prompt.key, "instructions": prompt.instruction_ids,
                              "strict": result.strict, "loose": result.loose}))
    print(json.dumps({"prompts": len(results), **summarize(results)}, indent=2))
    return 0
