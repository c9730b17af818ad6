"""``auditgame/preferences``: preference coherence (mu-decisiveness) over Utility Engineering outcomes.

Pairs of outcomes are asked in both orders, actively chosen (random pairs first, then the
least certain ones), and a Thurstonian fit (Utility Engineering's: a mean and a variance per
outcome; ``model=case_v`` for one shared variance) gives utilities, mu-decisiveness, held-out
accuracy and the share of intransitive triads. Local organisms give P(A) from next-token
log-probabilities; API models from ``samples`` sampled answers per order.
"""

import json
import random

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample

from auditgame.data import data_path
from auditgame.naturalness.solvers import default_budget, preference_elicitation
from auditgame.scoring.preferences import preference_coherence


def load_outcomes(items: int | None = None, seed: int = 0) -> list[str]:
    """The 510 outcomes of options_hierarchical.json (a seeded random subset when ``items``)."""
    path = data_path("utility_engineering", "shared_options", "options_hierarchical.json")
    outcomes = [o for group in json.loads(path.read_text(encoding="utf-8")).values() for o in group]
    if items is not None and items < len(outcomes):
        outcomes = random.Random(seed).sample(outcomes, items)
    return outcomes


@task
def preferences(items: int | None = None, pairs: int | None = None, rounds: int = 5,
                degree: int = 2, samples: int = 10, prefill: str = "", holdout: float = 0.05,
                bootstrap: int = 50, seed: int = 0, model: str = "thurstonian") -> Task:
    """``pairs``: unordered pairs to ask (default 2 n ln n); ``items``: outcomes (default 510)."""
    outcomes = load_outcomes(items, seed)
    budget = pairs or default_budget(len(outcomes))
    sample = Sample(id="outcomes", input=f"pairwise preferences over {len(outcomes)} outcomes",
                    metadata={"outcomes": outcomes})
    return Task(
        dataset=MemoryDataset([sample], name="utility_engineering"),
        solver=preference_elicitation(outcomes, budget, rounds, degree, samples, prefill, seed, model),
        scorer=preference_coherence(holdout, bootstrap, model),
    )
