"""Thurstone fit, mu-decisiveness, coherence diagnostics and active pair sampling."""

import itertools
import json
import math
import random

import pytest

from auditgame.cli import main
from auditgame.naturalness import preferences as prefs


def spearman(x, y):
    def rank(v):
        return {i: r for r, i in enumerate(sorted(range(len(v)), key=v.__getitem__))}
    rx, ry = rank(x), rank(y)
    n = len(x)
    return 1 - 6 * sum((rx[i] - ry[i]) ** 2 for i in range(n)) / (n * (n * n - 1))


def planted(n=60, pairs=1500, seed=1):
    rng = random.Random(seed)
    true = [rng.gauss(0, 1.5) for _ in range(n)]
    comparisons = []
    for _ in range(pairs):
        i, j = rng.sample(range(n), 2)
        p = 0.5 * (1 + math.erf((true[i] - true[j]) / 2))  # Phi((mu_i - mu_j)/sqrt 2)
        comparisons.append(prefs.Comparison(i, j, float(rng.random() < p)))  # one sampled answer
    return true, comparisons


def test_fit_recovers_planted_utilities():
    true, comparisons = planted()
    fit = prefs.fit_thurstone(comparisons, len(true))
    assert spearman(fit.utilities, true) >= 0.95
    assert fit.iterations < 50


def test_decisiveness_coin_flips_and_strict_order():
    n = 20
    coin = [prefs.Comparison(i, j, 0.5) for i, j in itertools.permutations(range(n), 2)]
    assert prefs.decisiveness(prefs.fit_thurstone(coin, n).utilities) < 0.01
    strict = [prefs.Comparison(i, j, float(i < j)) for i, j in itertools.permutations(range(n), 2)]
    assert prefs.decisiveness(prefs.fit_thurstone(strict, n).utilities) > 0.9


def test_intransitive_triads_and_holdout():
    cycle = [prefs.Comparison(0, 1, 1.0), prefs.Comparison(1, 2, 1.0), prefs.Comparison(2, 0, 1.0)]
    assert prefs.intransitive_share(cycle) == 1.0
    order = [prefs.Comparison(0, 1, 0.9), prefs.Comparison(1, 2, 0.8), prefs.Comparison(0, 2, 0.7)]
    assert prefs.intransitive_share(order) == 0.0
    assert prefs.holdout_accuracy([2.0, 1.0, 0.0], order) == 1.0
    assert prefs.holdout_accuracy([0.0, 1.0, 2.0], order) == 0.0
    true, comparisons = planted()
    report = prefs.coherence(comparisons, len(true), bootstrap=3)
    assert report.holdout_accuracy > 0.7 and report.decisiveness_se > 0


def test_active_sampling_picks_close_unmeasured_pairs():
    rng = random.Random(0)
    start = prefs.initial_pairs(50, 2, rng)
    assert len(start) <= 100 and {i for p in start for i in p} == set(range(50))
    utilities = [float(i) for i in range(50)]
    chosen = prefs.next_pairs(utilities, set(start), 20, rng)
    assert len(chosen) == 20 and not set(chosen) & set(start)
    assert sum(abs(i - j) for i, j in chosen) / 20 < 10  # random pairs average ~17 apart


def test_fit_command(tmp_path, capsys):
    rows = [{"a": x, "b": y, "p_a": 0.9} for x, y in [("tea", "coffee"), ("coffee", "water"),
                                                       ("tea", "water")]]
    rows += [{"a": r["b"], "b": r["a"], "p_a": 0.1} for r in rows]
    path = tmp_path / "comparisons.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert main(["prefs", "fit", str(path), "--bootstrap", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    u = out["utilities"]
    assert u["tea"] > u["coffee"] > u["water"] and 0 < out["decisiveness"] < 1
    path.write_text('{"a": "x", "b": "y", "p_a": "maybe"}\n', encoding="utf-8")
    with pytest.raises(SystemExit, match="row 1"):
        main(["prefs", "fit", str(path)])
    path.write_text('{"a": "x", "b": "y", "p_a": 0.5}\n{"a": "x", "b": "z", "p_a": 1.5}\n', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"row 2.*\[0, 1\]"):
        main(["prefs", "fit", str(path)])
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="no comparisons"):
        main(["prefs", "fit", str(path)])


def test_decisiveness_of_unordered_utilities_matches_erf_over_pairs():
    # 2 Phi(d / sqrt 2) - 1 = erf(d / 2); utilities in no particular order, so a lost |.| shows
    utilities = [0.4, -1.3, 2.1, 0.0, -0.2]
    expected = sum(abs(math.erf((x - y) / 2)) for x, y in itertools.combinations(utilities, 2)) / 10
    assert prefs.decisiveness(utilities) == pytest.approx(expected, abs=1e-12)
    assert prefs.decisiveness(utilities[::-1]) == pytest.approx(expected, abs=1e-12)
    assert prefs.decisiveness([1.0, 1.0]) == 0.0
    with pytest.raises(ValueError, match="at least two"):
        prefs.decisiveness([1.0])


@pytest.mark.parametrize("prior", [1e-2, 0.5])
def test_fit_is_the_maximum_of_the_penalised_likelihood(prior):
    """At the fitted utilities the gradient of log-likelihood minus the Gaussian prior, taken
    by autograd from its textbook form, vanishes (items shuffled: no order by item number)."""
    import torch

    rng = random.Random(11)
    true = [1.5, -0.7, 0.2, -1.9, 0.9, 0.0]
    comparisons = []
    for _ in range(200):
        a, b = rng.sample(range(6), 2)
        p = 0.5 * (1 + math.erf((true[a] - true[b]) / 2))
        comparisons.append(prefs.Comparison(a, b, min(1.0, max(0.0, p + rng.uniform(-0.1, 0.1)))))
    fit = prefs.fit_thurstone(comparisons, 6, prior=prior)

    mu = torch.tensor(fit.utilities, dtype=torch.float64, requires_grad=True)
    objective = 0.5 * -prior * (mu * mu).sum()
    for c in comparisons:
        d = (mu[c.a] - mu[c.b]) / math.sqrt(2)
        objective = objective + c.p_a * torch.special.log_ndtr(d) + (1 - c.p_a) * torch.special.log_ndtr(-d)
    objective.backward()
    assert mu.grad.abs().max() < 1e-6
    assert spearman(fit.utilities, true) == 1.0
