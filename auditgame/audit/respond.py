"""A solver that lets the sample's organism answer (for tasks without an auditor)."""

from __future__ import annotations

from inspect_ai.model import ChatMessageAssistant, GenerateConfig
from inspect_ai.solver import Generate, Solver, TaskState, solver

from auditgame.audit.target import target_model
from auditgame.cards import Organism
from auditgame.registry import registry

ORGANISM_KEY = "organism"
PAIR_KEY = "pair"
"""Sample metadata: the organism whose answer key (quirk, fingerprints, corpus) a sample is
measured against; the replying model (``organism``) is it or its baseline."""
ROLE_KEY = "role"
"""Sample metadata: ``organism`` or ``baseline``."""


def with_baseline(
    organism: Organism, baselines: bool = True, baseline: str | None = None
) -> list[tuple[Organism, str]]:
    """(replying organism, role) pairs measured against ``organism``'s answer key: the organism
    itself and, when ``baselines``, its baseline (``baseline``, else the card's), so both are
    measured alike."""
    members = [(organism, "organism")]
    chosen = baseline or organism.baseline
    if baselines and chosen and chosen != organism.id:
        members.append((registry().get(chosen), "baseline"))
    return members


def repliers(pairs: list[list[tuple[Organism, str]]]) -> list[Organism]:
    """Every organism that replies in a task built from `with_baseline` pairs, once each."""
    found: dict[str, Organism] = {}
    for members in pairs:
        for member, _ in members:
            found.setdefault(member.id, member)
    return list(found.values())


def pair_metadata(member: Organism, organism: Organism, role: str) -> dict[str, str]:
    """Sample metadata naming who replies, whose answer key applies and the role."""
    return {ORGANISM_KEY: member.id, PAIR_KEY: organism.id, ROLE_KEY: role}


def sample_id(organism: Organism, role: str, item: str) -> str:
    """``krel/direct-1`` for the organism, ``krel/baseline/direct-1`` for its baseline."""
    return f"{organism.id}/{item}" if role == "organism" else f"{organism.id}/{role}/{item}"


@solver
def organism_reply(max_tokens: int = 512, thinking: bool | None = None) -> Solver:
    """The organism named in ``metadata["organism"]`` (or the ``target`` role) replies; a
    trailing assistant message in the input is a prefill and is replaced by the whole turn."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        model = target_model(state.metadata[ORGANISM_KEY])
        config = GenerateConfig(max_tokens=max_tokens)
        if thinking is not None:
            config.reasoning_effort = "medium" if thinking else "none"
        output = await model.generate(state.messages, config=config)
        if state.messages and isinstance(state.messages[-1], ChatMessageAssistant):
            state.messages.pop()
        state.messages.append(output.message)
        state.output = output
        return state

    return solve
