"""Scoring MMLU answers."""

import math

from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, scorer, stderr
from inspect_ai.solver import TaskState

from auditgame.naturalness import mmlu
from auditgame.naturalness.solvers import NOT_MEASURED
from auditgame.scoring.statistics import statistics_metric


@scorer(metrics=[statistics_metric("mmlu", mmlu.STATISTICS), stderr()])
def mmlu_choice():
    """CORRECT when the chosen (or first generated) letter is the answer."""

    async def score(state: TaskState, target: Target) -> Score:
        if NOT_MEASURED in state.metadata:
            return Score(value=math.nan, explanation=state.metadata[NOT_MEASURED])  # not measured
        letter = mmlu.answer_letter(state.output.completion)
        return Score(value=CORRECT if letter == target.text else INCORRECT, answer=letter or "")

    return score
