"""The ``auditgame`` command line. Each command group lives in ``auditgame.commands.<name>``
and adds its subcommands through ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from auditgame.cards import CardError

COMMAND_MODULES = [
    "auditgame.commands.demo",
    "auditgame.commands.fried",
    "auditgame.commands.ifeval",
    "auditgame.commands.leakage",
    "auditgame.commands.leaderboard",
    "auditgame.commands.oct",
    "auditgame.commands.organisms",
    "auditgame.commands.perplexity",
    "auditgame.commands.prefs",
    "auditgame.commands.regrade",
    "auditgame.commands.tiny",
    "auditgame.commands.zoo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditgame", description="Alignment auditing games on model organisms."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
