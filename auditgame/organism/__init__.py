"""Serving model organisms: the local engine, chat rendering and the ``organism/`` provider."""

from auditgame.organism.chat import ThinkingSplit, split_thinking
from auditgame.organism.engine import (
    Generation,
    GenerationRequest,
    LocalEngine,
    PromptTooLong,
    SamplingKey,
    ScoreRequest,
    ScoreResult,
    load_engine,
    start_engine,
)

__all__ = [
    "Generation",
    "GenerationRequest",
    "LocalEngine",
    "PromptTooLong",
    "SamplingKey",
    "ScoreRequest",
    "ScoreResult",
    "ThinkingSplit",
    "load_engine",
    "start_engine",
    "split_thinking",
]
