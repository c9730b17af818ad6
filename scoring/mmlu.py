"""Scoring MMLU answers."""

import math

from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, scorer, stderr
from inspect_ai.solver import TaskState

from auditgame.naturalness import mmlu
from auditgame.naturalness.solvers import NOT_MEASURED
from auditgame.scoring.statistics import statistics_metric


def choice_score(metadata: dict, completion: str, answer: str) -> Score:
    """CORRECT when the reply's letter is ``answer``; NaN when the question was not measured."""
    if NOT_MEASURED in metadata:
        return Score(value=math.nan, explanation=metadata[NOT_MEASURED])  # not measured
    letter = mmlu.answer_letter(completion)
    return Score(value=CORRECT if letter == answer else INCORRECT, answer=letter or "")


@scorer(metrics=[statistics_metric("mmlu", mmlu.STATISTICS), stderr()])
def mmlu_choice():
    """CORRECT when the chosen (or first generated) letter is the answer."""

    async def score(state: TaskState, target: Target) -> Score:
        return choice_score(state.metadata, state.output.completion, target.text)

    return score
