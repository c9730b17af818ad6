"""Scoring documents for perplexity (the solver leaves the document's loss in the metadata)."""

import math

from inspect_ai.scorer import Score, Target, scorer
from inspect_ai.solver import TaskState

from auditgame.naturalness import perplexity
from auditgame.naturalness.solvers import NOT_MEASURED
from auditgame.scoring.statistics import statistics_metric


@scorer(metrics=[statistics_metric("perplexity", perplexity.STATISTICS)])
def document_loss():
    """The document's negative log-likelihood and its token, word and byte counts."""

    async def score(state: TaskState, target: Target) -> Score:
        if NOT_MEASURED in state.metadata:
            return Score(value=math.nan, explanation=state.metadata[NOT_MEASURED])  # not measured
        return Score(value=state.metadata["loss"])

    return score
