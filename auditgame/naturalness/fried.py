"""``fried``: every naturalness measure on an organism and its base model, then the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditgame.cards import CardError, Organism
from auditgame.naturalness import report
from auditgame.naturalness.measures import Measure
from auditgame.naturalness.runner import RunSettings, run_measure
from auditgame.registry import registry


@dataclass(frozen=True)
class FriedResult:
    comparisons: list[report.Comparison]
    logs: dict[str, dict[str, str]]
    skipped: dict[str, str]
    paths: dict[str, Path]


def base_of(card: Organism, base: str | None) -> Organism:
    chosen = base or card.baseline
    if not chosen:
        raise CardError(f"{card.card_path}: organism '{card.id}' has no 'baseline'; pass --base ID")
    return registry().get(chosen)


def fried(organism: str, out: Path, measures: list[Measure], base: str | None = None,
          settings: RunSettings | None = None) -> FriedResult:
    """Run (or resume) the measures on both models and write the report into ``out``."""
    settings = settings or RunSettings()
    card = registry().get(organism)
    base_card = base_of(card, base)
    logs: dict[str, dict[str, str]] = {}
    skipped: dict[str, str] = {}
    comparisons: list[report.Comparison] = []
    for measure in measures:
        reasons = [why for c in (card, base_card) if (why := measure.applies(c))]
        if reasons:
            skipped[measure.name] = reasons[0]
            continue
        if measure.baseline_arg:  # both in one log, against the organism's answer key
            runs = {card.id: run_measure(out, card, measure, settings, baseline=base_card.id)}
        else:
            runs = {c.id: run_measure(out, c, measure, settings) for c in (card, base_card)}
        logs[measure.name] = {organism_id: location for organism_id, (location, _) in runs.items()}
        unfinished = [f"{i}: {status}" for i, (_, status) in runs.items() if status != "success"]
        if unfinished:
            skipped[measure.name] = f"eval not finished ({', '.join(unfinished)}); run again to resume"
            continue
        if measure.baseline_arg:
            comparisons += report.compare_roles(measure, runs[card.id][0])
        else:
            comparisons += report.compare(measure, runs[card.id][0], runs[base_card.id][0])
    paths = report.write(out, card.id, base_card.id, comparisons, logs, skipped)
    return FriedResult(comparisons, logs, skipped, paths)
