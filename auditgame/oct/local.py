"""Batched chat generation with a local model through the organism engine (thinking on)."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from typing import Any

from auditgame.cards import LocalModel, Organism
from auditgame.oct.recipe import SamplingConfig
from auditgame.oct.store import Processes
from auditgame.organism.chat import render_prompt
from auditgame.organism.engine import Generation, GenerationRequest, LocalEngine, SamplingKey


def engine_for(card: Organism, procs: Processes) -> LocalEngine:
    """A fresh engine on this process's device (not the shared cache: it is freed after the stage)."""
    import torch

    device = f"cuda:{procs.local_rank}" if torch.cuda.is_available() else "cpu"
    return LocalEngine(card, device=device)


def folder_card(folder: str, dtype: str) -> Organism:
    """A card for plain weights in ``folder`` (e.g. the distilled model)."""
    return Organism(id="oct-model", model=LocalModel(base=folder, dtype=dtype), control=True)  # type: ignore[arg-type]


def release(engine: LocalEngine) -> None:
    import torch

    engine.close()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def generate_chats(
    engine: LocalEngine, chats: Sequence[list[dict[str, Any]]], sampling: SamplingConfig, salt: int = 0
) -> list[Generation]:
    """One assistant turn (thinking on) for each chat, generated together."""
    seed = None if sampling.seed is None else sampling.seed + salt
    key = SamplingKey(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k, seed=seed)
    requests = [
        GenerationRequest(
            render_prompt(engine.tokenizer, chat, thinking=True, chat_template=engine.chat_template),
            sampling.max_new_tokens,
            key,
        )
        for chat in chats
    ]
    return engine.generate_now(requests)
