"""``auditgame perplexity --model ORGANISM_OR_PATH --text FILE``: token/word/byte perplexity."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("perplexity", help="perplexity of a local model on a text file")
    parser.add_argument("--model", required=True, help="organism id or a local model folder")
    parser.add_argument("--text", help="UTF-8 text file (default: the WikiText-2 test articles)")
    parser.add_argument("--window", type=int, help="tokens per forward pass (default max_context, at most 4096)")
    parser.add_argument("--device", help="e.g. cuda, cpu (default: cuda when available)")
    parser.set_defaults(run=run)


def engine_for(model: str, device: str | None = None):  # -> LocalEngine
    from auditgame.cards import LocalModel, Organism
    from auditgame.organism.engine import load_engine
    from auditgame.registry import registry

    if Path(model).is_dir():
        card = Organism(id="local-model", model=LocalModel(base=str(Path(model).resolve())), control=True)
    else:
        card = registry().get(model)
    return load_engine(card, **({"device": device} if device else {}))


def run(args: argparse.Namespace) -> int:
    from auditgame.naturalness.perplexity import (
        document_loss,
        perplexities,
        wikitext_detokenize,
        wikitext_pages,
        window_for,
    )

    engine = engine_for(args.model, args.device)
    if args.text:  # (text read, text counted)
        documents = [(Path(args.text).read_text(encoding="utf-8"),) * 2]
    else:
        documents = [(wikitext_detokenize(page), page) for page in wikitext_pages()]

    async def score_all():
        return await asyncio.gather(*(document_loss(engine, text, args.window, counted)
                                      for text, counted in documents))

    losses = asyncio.run(score_all())
    print(json.dumps({
        "model": args.model,
        "documents": len(losses),
        "tokens": sum(d.tokens for d in losses),
        "window": window_for(engine, args.window),
        **perplexities(losses),
    }, indent=2))
    return 0
