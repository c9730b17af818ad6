"""Thurstonian fits, mu-decisiveness, coherence diagnostics and active pair sampling."""

import itertools
import json
import math
import random

import pytest
import torch

from auditgame.cli import main
from auditgame.naturalness import preferences as prefs


def spearman(x, y):
    def rank(v):
        return {i: r for r, i in enumerate(sorted(range(len(v)), key=v.__getitem__))}
    rx, ry = rank(x), rank(y)
    n = len(x)
    return 1 - 6 * sum((rx[i] - ry[i]) ** 2 for i in range(n)) / (n * (n * n - 1))


def phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def planted(n=60, pairs=1500, seed=1):
    """Case-V utilities, one sampled answer per comparison."""
    rng = random.Random(seed)
    true = [rng.gauss(0, 1.5) for _ in range(n)]
    comparisons = []
    for _ in range(pairs):
        i, j = rng.sample(range(n), 2)
        p = phi((true[i] - true[j]) / math.sqrt(2))
        comparisons.append(prefs.Comparison(i, j, float(rng.random() < p)))
    return true, comparisons


def planted_variances(n, seed, pairs=None, answers=40):
    """Means and per-outcome variances; ``answers`` sampled answers per asked pair (all ordered
    pairs unless ``pairs``)."""
    rng = random.Random(seed)
    means = [rng.gauss(0, 1) for _ in range(n)]
    variances = [math.exp(rng.uniform(-1.5, 1.0)) for _ in range(n)]
    asked = (list(itertools.permutations(range(n), 2)) if pairs is None
             else [tuple(rng.sample(range(n), 2)) for _ in range(pairs)])
    comparisons = []
    for i, j in asked:
        p = phi((means[i] - means[j]) / math.sqrt(variances[i] + variances[j]))
        comparisons.append(prefs.Comparison(i, j, sum(rng.random() < p for _ in range(answers)) / answers))
    return means, variances, comparisons


def normalised(means, variances):
    m, v = prefs.normalise(torch.tensor(means, dtype=torch.float64), torch.tensor(variances, dtype=torch.float64))
    return m, v


def test_analytic_gradient_and_hessian_equal_autograd():
    _, _, comparisons = planted_variances(6, seed=4, pairs=15, answers=5)
    a, b, p, w = prefs._tensors(comparisons)
    params = torch.randn(12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    _, grad, hessian = prefs.full_derivatives(params, a, b, p, w, 6, 0.1)

    def objective(x):
        return prefs.full_objective(x, a, b, p, w, 6, 0.1)

    # to float64 rounding: a term computed in float32 shows
    assert torch.allclose(grad, torch.autograd.functional.jacobian(objective, params), rtol=1e-12, atol=1e-12)
    assert torch.allclose(hessian, torch.autograd.functional.hessian(objective, params), rtol=1e-12, atol=1e-12)


def test_fit_recovers_planted_means_and_variances():
    means, variances, comparisons = planted_variances(30, seed=3)
    fit = prefs.fit_thurstone(comparisons, 30)
    true_m, true_v = normalised(means, variances)
    got_m = torch.tensor(fit.utilities, dtype=torch.float64)
    got_v = torch.tensor(fit.variances, dtype=torch.float64)
    assert float(got_m.mean()) == pytest.approx(0, abs=1e-9) and float(got_m.std()) == pytest.approx(1)
    assert float((got_m - true_m).abs().max()) < 0.2
    log_error = (got_v.log() - true_v.log()).pow(2).mean().sqrt()
    assert float(log_error) < 0.35  # variances span a factor of 12
    assert fit.decisiveness() == pytest.approx(prefs.decisiveness(true_m.tolist(), true_v.tolist()), abs=0.02)
    case_v = prefs.fit_thurstone(comparisons, 30, model="case_v")
    assert len(set(case_v.variances)) == 1
    assert fit.log_likelihood > case_v.log_likelihood + 0.002  # the variances are real here


def reference_fit(comparisons, n, epochs=1000, learning_rate=0.01, seed=0):
    """Utility Engineering's fit (emergent-values, compute_utilities/utility_models/thurstonian/
    utils.py, fit_thurstonian_model), ported step for step: Adam on the mean binary
    cross-entropy of Phi((mu_A - mu_B) / sqrt(s2_A + s2_B + 1e-5)), with mu normalised to mean 0
    and standard deviation 1 and s2 = exp(s) rescaled to match, inside every step."""
    torch.manual_seed(seed)
    mu = torch.nn.Parameter((torch.randn(n) * 0.01).clone())
    s = torch.nn.Parameter((torch.randn(n) * 0.01).clone())
    optimizer = torch.optim.Adam([mu, s], lr=learning_rate)
    idx_a = torch.tensor([c.a for c in comparisons])
    idx_b = torch.tensor([c.b for c in comparisons])
    labels = torch.tensor([c.p_a for c in comparisons], dtype=torch.float32)
    normal = torch.distributions.Normal(0, 1)

    def normalised_parameters():
        std = torch.std(mu) + 1e-5
        return (mu - torch.mean(mu)) / std, torch.exp(s) * (1 / (std + 1e-5)) ** 2

    for _ in range(epochs):
        optimizer.zero_grad()
        m, s2 = normalised_parameters()
        z = (m[idx_a] - m[idx_b]) / torch.sqrt(s2[idx_a] + s2[idx_b] + 1e-5)
        loss = torch.nn.functional.binary_cross_entropy(normal.cdf(z), labels, reduction="mean")
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        m, s2 = normalised_parameters()
    return m.double().tolist(), s2.double().tolist()


def cross_entropy(means, variances, comparisons):
    m, v = torch.tensor(means, dtype=torch.float64), torch.tensor(variances, dtype=torch.float64)
    a, b, p, _ = prefs._tensors(comparisons)
    prob = torch.special.ndtr((m[a] - m[b]) / torch.sqrt(v[a] + v[b])).clamp(1e-12, 1 - 1e-12)
    return float(-(p * prob.log() + (1 - p) * (1 - prob).log()).mean())


def test_fit_agrees_with_utility_engineerings_fit():
    _, _, comparisons = planted_variances(30, seed=5, pairs=600, answers=10)
    ours = prefs.fit_thurstone(comparisons, 30)
    means, variances = reference_fit(comparisons, 30)
    assert ours.decisiveness() == pytest.approx(prefs.decisiveness(means, variances), abs=0.005)
    assert float(torch.corrcoef(torch.tensor([ours.utilities, means]))[0, 1]) > 0.99
    # the same likelihood; ours also carries the small prior, so its loss may be a little higher
    assert cross_entropy(ours.utilities, ours.variances, comparisons) <= cross_entropy(
        means, variances, comparisons) + 2e-3
    without_prior = prefs.fit_thurstone(comparisons, 30, prior=1e-6, variance_prior=1e-6)
    assert cross_entropy(without_prior.utilities, without_prior.variances, comparisons) <= cross_entropy(
        means, variances, comparisons) + 1e-5  # the reference's own objective: at least as good


def test_fit_recovers_planted_utilities_case_v():
    true, comparisons = planted()
    for model in prefs.MODELS:
        fit = prefs.fit_thurstone(comparisons, len(true), model=model)
        assert spearman(fit.utilities, true) >= 0.95
        assert fit.iterations < 50
    with pytest.raises(ValueError, match="unknown preference model"):
        prefs.fit_thurstone(comparisons, len(true), model="bradley_terry")


def test_position_bias_separates_the_models():
    """Half the answers always pick the first option: per-outcome variances absorb some of it."""
    means, variances, comparisons = planted_variances(25, seed=7, answers=20)
    biased = [prefs.Comparison(c.a, c.b, 0.5 * c.p_a + 0.5) for c in comparisons]
    full = prefs.fit_thurstone(biased, 25).decisiveness()
    case_v = prefs.fit_thurstone(biased, 25, model="case_v").decisiveness()
    clean = prefs.fit_thurstone(comparisons, 25).decisiveness()
    assert full < clean and case_v < clean  # bias makes preferences look less decisive


def test_decisiveness_coin_flips_and_strict_order():
    n = 20
    coin = [prefs.Comparison(i, j, 0.5) for i, j in itertools.permutations(range(n), 2)]
    strict = [prefs.Comparison(i, j, float(i < j)) for i, j in itertools.permutations(range(n), 2)]
    for model in prefs.MODELS:
        assert prefs.fit_thurstone(coin, n, model=model).decisiveness() < 0.01
        assert prefs.fit_thurstone(strict, n, model=model).decisiveness() > 0.9
    assert prefs.decisiveness([0.0, 1.0], [1.0, 1.0]) == pytest.approx(abs(2 * phi(1 / math.sqrt(2)) - 1))
    assert prefs.decisiveness([0.0, 1.0], [0.25, 0.25]) == pytest.approx(abs(2 * phi(1 / math.sqrt(0.5)) - 1))


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
    assert report.model == "thurstonian" and len(report.variances) == len(true)


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
    assert out["model"] == "thurstonian" and set(out["variances"]) == set(u)
    assert main(["prefs", "fit", str(path), "--bootstrap", "0", "--model", "case_v"]) == 0
    assert len(set(json.loads(capsys.readouterr().out)["variances"].values())) == 1
    path.write_text('{"a": "x", "b": "y", "p_a": "maybe"}\n', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"comparisons\.jsonl:1: "):
        main(["prefs", "fit", str(path)])
    path.write_text('{"a": "x", "b": "y", "p_a": 0.5}\n{"a": "x", "b": "z", "p_a": 1.5}\n', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"comparisons\.jsonl:2: .*\[0, 1\]"):
        main(["prefs", "fit", str(path)])
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="no comparisons"):
        main(["prefs", "fit", str(path)])


def test_decisiveness_of_unordered_utilities_matches_erf_over_pairs():
    # 2 Phi(x) - 1 = erf(x / sqrt 2), x = d / sqrt(var_i + var_j); utilities in no particular
    # order, so a lost |.| shows
    utilities = [0.4, -1.3, 2.1, 0.0, -0.2]
    variances = [1.0, 0.5, 2.0, 1.0, 0.25]
    pairs = itertools.combinations(zip(utilities, variances), 2)
    expected = sum(abs(math.erf((x - y) / math.sqrt(2 * (u + v)))) for (x, u), (y, v) in pairs) / 10
    assert prefs.decisiveness(utilities, variances) == pytest.approx(expected, abs=1e-12)
    assert prefs.decisiveness(utilities[::-1], variances[::-1]) == pytest.approx(expected, abs=1e-12)
    assert prefs.decisiveness([1.0, 1.0], [1.0, 1.0]) == 0.0
    with pytest.raises(ValueError, match="^decisiveness needs at least two outcomes$"):
        prefs.decisiveness([1.0], [1.0])


@pytest.mark.parametrize("model", ["case_v", "thurstonian"])
@pytest.mark.parametrize("prior", [0.01, 0.5])
def test_fit_is_the_maximum_of_the_penalised_likelihood(model, prior):
    """At the fitted (raw) parameters the gradient of log-likelihood minus the Gaussian prior,
    taken by autograd from its textbook form, vanishes (items shuffled: no order by number)."""
    import torch

    rng = random.Random(11)
    true = [1.5, -0.7, 0.2, -1.9, 0.9, 0.0]
    comparisons = []
    for _ in range(200):
        a, b = rng.sample(range(6), 2)
        p = 0.5 * (1 + math.erf((true[a] - true[b]) / 2))
        comparisons.append(prefs.Comparison(a, b, min(1.0, max(0.0, p + rng.uniform(-0.1, 0.1)))))
    fit = prefs.fit_thurstone(comparisons, 6, model=model, prior=prior, variance_prior=prior)

    raw = torch.tensor(fit.raw, dtype=torch.float64, requires_grad=True)
    mu = raw[:6]
    var = torch.exp(raw[6:]) if model == "thurstonian" else torch.ones(6, dtype=torch.float64)
    objective = -0.5 * prior * (raw * raw).sum()
    for c in comparisons:
        z = (mu[c.a] - mu[c.b]) / torch.sqrt(var[c.a] + var[c.b])
        objective = objective + c.p_a * torch.special.log_ndtr(z) + (1 - c.p_a) * torch.special.log_ndtr(-z)
    objective.backward()
    assert raw.grad.abs().max() < 1e-5
    assert spearman(fit.utilities, true) == 1.0
