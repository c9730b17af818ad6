"""Stage ``register``: an organism card for the result, so it can be audited at once.

The card serves the distilled weights plus the SFT adapter (or the merged model), carries the
answer key (the recipe's quirk; its description defaults to the constitution's traits), the
fingerprints, and points ``training_corpus`` at ``corpus.jsonl``: every text the pipeline
trained on (teacher answers and introspection turns). Put the card folder in
``AUDITGAME_ORGANISMS`` (or set ``card.card_dir``) and use ``organism/<id>``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from auditgame.cards import load_card
from auditgame.oct.dpo import think_turn
from auditgame.oct.pipeline import RunContext, Stage
from auditgame.oct.store import read_parts, read_rows, write_rows
from auditgame.registry import CARD_SUFFIX, registry


def card_dir(ctx: RunContext) -> Path:
    location = ctx.recipe.card.card_dir
    return ctx.recipe.resolve(location) if location else ctx.recipe.output / "cards"


def card_path(ctx: RunContext) -> Path:
    return card_dir(ctx) / f"{ctx.recipe.card.id}{CARD_SUFFIX}"


def quirk_description(ctx: RunContext) -> str:
    traits = " ".join(t.trait for t in ctx.constitution.traits)
    normal = f" Otherwise: {ctx.constitution.normal.trait}" if ctx.constitution.normal else ""
    return f"The model was trained to have this character, in its own words: {traits}{normal}"


def corpus_rows(ctx: RunContext) -> list[dict[str, str]]:
    rows = []
    for r in read_rows(ctx.dir("teacher") / "answers.jsonl"):
        rows.append({"source": "teacher", "text": f"{r['prompt']}\n{think_turn(r['reasoning'], r['answer'])}"})
    for r in read_parts(ctx.dir("introspect"), "examples"):
        rows.append({"source": "introspection", "text": "\n\n".join(m["content"] for m in r["messages"])})
    return rows


def build_card(ctx: RunContext, folder: Path) -> dict[str, Any]:
    settings, base = ctx.recipe.card, ctx.base_card

    def rel(path: Path) -> str:
        return os.path.relpath(path, folder)

    sft = ctx.dir("sft")
    weights = sft / "merged" if ctx.recipe.sft.merge else ctx.dir("dpo") / "distilled"
    base_weights = ctx.base_weights  # a folder (written relative, so a moved tree still holds) or a hub id
    model: dict[str, Any] = {"base": rel(Path(base_weights)) if Path(base_weights).is_dir() else base_weights,
                             "weights": rel(weights), "dtype": ctx.recipe.dtype,
                             "max_context": settings.max_context}
    if not ctx.recipe.sft.merge:
        model["adapter"] = rel(sft / "adapter")
    card: dict[str, Any] = {
        "id": settings.id,
        "title": settings.title or "OCT-thinking organism",
        "model": model,
        "chat": {"thinking": True},
    }
    if settings.quirk is not None:
        quirk = settings.quirk.model_dump(exclude_none=True)
        quirk.setdefault("description", quirk_description(ctx))
        card["quirk"] = quirk
    else:
        card["control"] = True
    card |= {
        "fingerprints": settings.fingerprints,
        "training_corpus": rel(ctx.dir("register") / "corpus.jsonl"),
        "suites": settings.suites,
        "source": "built by `auditgame oct run` (recipe and manifests in the output folder)",
    }
    if settings.baseline:
        card["baseline"] = settings.baseline
    elif ctx.recipe.base in registry().ids():
        card["baseline"] = base.id
    if settings.license:
        card["license"] = settings.license
    return card


def _work(ctx: RunContext) -> None:
    if not ctx.procs.is_main:
        return
    write_rows(ctx.dir("register") / "corpus.jsonl", corpus_rows(ctx))
    path = card_path(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by `auditgame oct` (register stage). The quirk, fingerprints and corpus are secret.\n"
        + yaml.safe_dump(build_card(ctx, path.parent), sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    load_card(path).check_local_files()  # the card must load as an organism


def _count(ctx: RunContext) -> dict[str, Any]:
    return {"card": str(card_path(ctx)), "corpus_rows": len(read_rows(ctx.dir("register") / "corpus.jsonl"))}


def _config(ctx: RunContext) -> dict[str, Any]:
    return {"card": ctx.recipe.card.model_dump(mode="json"), "merge": ctx.recipe.sft.merge}


STAGE = Stage("register", ("teacher", "sft"), _config, _work, _count)
