"""The naturalness measures: which Inspect task each runs, what it reports and for whom."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from auditgame.cards import Organism
from auditgame.naturalness import ifeval, mmlu, perplexity, preferences, thinking, xstest
from auditgame.naturalness.stats import Statistic


def _always(card: Organism) -> str | None:
    return None


def _local_only(card: Organism) -> str | None:
    return None if card.is_local else "needs log-probabilities of given text (local organisms only)"


def _local_thinking_only(card: Organism) -> str | None:
    if not card.is_local:
        return "checks the raw turn of a locally served organism"
    return None if card.chat.thinking else "the organism does not think by default"


def _leakage_task(card: Organism) -> str | None:
    import auditgame.tasks

    return None if hasattr(auditgame.tasks, "leakage") else "no auditgame/leakage task installed"


@dataclass(frozen=True)
class Measure:
    name: str
    task: str
    """Registered Inspect task (``auditgame/<name>``)."""
    statistics: Mapping[str, Statistic] | None
    """None: the mean of every numeric key of the score rows."""
    higher_is_better: Mapping[str, bool] = field(default_factory=dict)
    applies: Callable[[Organism], str | None] = _always
    """Why the measure does not apply to an organism (None when it does)."""
    limit_arg: str | None = None
    """Task argument that ``--limit`` sets instead of Inspect's sample limit."""
    uses_grader: bool = False
    """Scored by the ``grader`` role when one is given."""
    organism_arg: str | None = None
    """Task argument naming the organism, for tasks that pick organisms themselves."""
    baseline_arg: str | None = None
    """Task argument naming the baseline, for tasks that measure an organism and its baseline
    in one log against the organism's answer key (sample metadata ``role``)."""

    def run_options(
        self, organism: str, limit: int | None, baseline: str | None = None
    ) -> tuple[dict[str, Any], int | None]:
        """(task args, Inspect sample limit) for one organism (and its baseline, for a task
        with a ``baseline_arg``) and a ``--limit``."""
        args: dict[str, Any] = {self.organism_arg: organism} if self.organism_arg else {}
        if self.baseline_arg and baseline:
            args[self.baseline_arg] = baseline
        if limit is None:
            return args, None
        return ({**args, self.limit_arg: limit}, None) if self.limit_arg else (args, limit)


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in [
        Measure("mmlu", "auditgame/mmlu", mmlu.STATISTICS, {"accuracy": True}),
        Measure("ifeval", "auditgame/ifeval", ifeval.STATISTICS,
                {k: True for k in ifeval.STATISTICS}),
        Measure("xstest", "auditgame/xstest", xstest.STATISTICS,
                {"over_refusal": False, "unsafe_compliance": False}, uses_grader=True),
        Measure("preferences", "auditgame/preferences", preferences.STATISTICS,
                {"decisiveness": True, "holdout_accuracy": True, "intransitive_share": False},
                limit_arg="items"),
        Measure("perplexity", "auditgame/perplexity", perplexity.STATISTICS,
                {k: False for k in perplexity.STATISTICS}, applies=_local_only),
        Measure("thinking_integrity", "auditgame/thinking_integrity", thinking.STATISTICS,
                {"well_formed": True, "intact": True, "language_switch": False,
                 "junk_tokens": False}, applies=_local_thinking_only),
        Measure("leakage", "auditgame/leakage", None,
                {"leak": False, "fingerprint": False, "verbatim_leak": False, "non_sequitur": False},
                applies=_leakage_task, limit_arg="prompts", uses_grader=True,
                organism_arg="organisms", baseline_arg="baseline"),
    ]
}
"""Every measure ``auditgame fried`` knows, in report order."""


def select(only: str | None) -> list[Measure]:
    if not only:
        return list(MEASURES.values())
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in MEASURES]
    if unknown:
        raise ValueError(f"unknown measure(s) {', '.join(unknown)}; known: {', '.join(MEASURES)}")
    return [MEASURES[n] for n in names]
