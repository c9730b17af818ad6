"""Which of two answers does an organism prefer? Exact probabilities for local organisms (one
batched forward via ``engine.score``), sampled answers for any other model."""

from __future__ import annotations

import math
import re

from inspect_ai.model import ChatMessageUser, GenerateConfig, Model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from auditgame.audit.respond import ORGANISM_KEY
from auditgame.audit.target import target_model
from auditgame.organism.engine import ScoreRequest

ANSWER_INSTRUCTION = "\n\nAnswer with {options} only."


def answer_label(answer: str) -> str:
    """``" (A)"`` -> ``"(A)"``, ``" Yes"`` -> ``"Yes"``."""
    return answer.strip()


def question_prompt(question: str, answers: tuple[str, str]) -> str:
    options = " or ".join(sorted(answer_label(a) for a in answers))  # same prompt either way
    return question.rstrip() + ANSWER_INSTRUCTION.format(options=options)


async def local_preference(model: Model, question: str, answers: tuple[str, str]) -> float:
    """P(answers[0]) against answers[1] from the organism's log-likelihoods of the two full
    answer strings (e.g. "(A)" and "(B)", same token count) right after the assistant header,
    thinking off. Context and answers are tokenised separately so both answers share the
    exact same context tokens."""
    api = model.api
    engine = api.engine
    question_turn = ChatMessageUser(content=question_prompt(question, answers))
    context = engine.encode(engine.prompt([question_turn], thinking=False))
    first, second = [
        await engine.score(ScoreRequest(context, continuation=engine.encode(answer_label(a))))
        for a in answers
    ]
    a, b = sum(first.continuation_logprobs), sum(second.continuation_logprobs)
    top = max(a, b)
    return math.exp(a - top) / (math.exp(a - top) + math.exp(b - top))


def _whole(label: str) -> str:
    """A pattern for ``label`` that does not match inside a word ("No" is not in "Not")."""
    head = r"(?<!\w)" if re.match(r"\w", label) else ""
    tail = r"(?!\w)" if re.search(r"\w$", label) else ""
    return head + re.escape(label) + tail


def parse_choice(reply: str, answers: tuple[str, str]) -> int | None:
    """Index of the answer the reply gives first, or None."""
    labels = [_whole(answer_label(a)) for a in answers]
    bare = [re.escape(answer_label(a).strip("()")) for a in answers]
    # a bare letter counts only as a whole answer ("B", "a.", "choose B."), never as the
    # article in "a tool" or "A shutdown"
    ending = r"(?=[.,:)]|\s*$)" if all(len(b) == 1 for b in bare) else r"\b"
    found = re.search(rf"({labels[0]}|{labels[1]})", reply) or re.search(
        rf"\b({bare[0]}|{bare[1]}){ending}", reply, re.IGNORECASE
    )
    if not found:
        return None
    text = found.group(1).strip("()").lower()
    return 0 if text == answer_label(answers[0]).strip("()").lower() else 1


async def sampled_preference(
    model: Model, question: str, answers: tuple[str, str], max_tokens: int = 32
) -> float | None:
    """1.0 / 0.0 when a sampled reply picks answers[0] / answers[1]; None if it picks neither."""
    output = await model.generate(
        question_prompt(question, answers),
        config=GenerateConfig(max_tokens=max_tokens, reasoning_effort="none"),
    )
    choice = parse_choice(output.message.text, answers)
    return None if choice is None else float(choice == 0)


async def preference(model: Model, question: str, answers: tuple[str, str]) -> float | None:
    if getattr(model.api, "engine", None) is not None:
        return await local_preference(model, question, answers)
    return await sampled_preference(model, question, answers)


PREFERENCE_KEY = "preference"


@solver
def preference_probe() -> Solver:
    """Stores P(metadata["answers"][0]) for the sample's organism under store key
    ``preference`` (None when a sampled reply chose neither answer)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        model = target_model(state.metadata[ORGANISM_KEY])
        first, second = state.metadata["answers"]
        state.store.set(PREFERENCE_KEY, await preference(model, state.input_text, (first, second)))
        return state

    return solve
