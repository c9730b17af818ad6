"""The pieces of the preference measure on small, shuffled data, against values written out by
hand or from the textbook formulas: pooled pair preferences, held-out accuracy, intransitive
triads, the held-out split, the bootstrap, active pair sampling and the row reader."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest
import torch

from auditgame.naturalness import preferences as prefs

C = prefs.Comparison


def phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def noisy(true: list[float], count: int, seed: int) -> list[prefs.Comparison]:
    """Soft labels from case-V utilities, items drawn in no particular order."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        a, b = rng.sample(range(len(true)), 2)
        p = phi((true[a] - true[b]) / math.sqrt(2)) + rng.uniform(-0.1, 0.1)
        out.append(C(a, b, min(1.0, max(0.0, p)), weight=rng.choice([0.3, 1.0, 2.7])))  # not float32
    return out


TRUE = [0.9, -1.2, 0.3, 1.8, -0.4]


# ---------------------------------------------------------------- the fit's inputs and outputs
def test_fit_rejects_bad_input_with_a_message():
    with pytest.raises(ValueError, match=r"^unknown preference model 'bt' \(expected one of thurstonian, case_v\)$"):
        prefs.fit_thurstone([C(0, 1, 0.5)], 2, model="bt")
    with pytest.raises(ValueError, match="^no comparisons to fit$"):
        prefs.fit_thurstone([], 2)
    with pytest.raises(ValueError, match=r"^comparison names item >= n_items \(3\)$"):
        prefs.fit_thurstone([C(0, 1, 0.5), C(3, 1, 0.5)], 3)
    with pytest.raises(ValueError, match=r"^comparison names item >= n_items \(3\)$"):
        prefs.fit_thurstone([C(0, 3, 0.5)], 3)
    for bad in (-0.01, 1.01):
        with pytest.raises(ValueError, match=r"^p_a must lie in \[0, 1\]$"):
            prefs.fit_thurstone([C(0, 1, 0.5), C(1, 2, bad)], 3)
    fit = prefs.fit_thurstone([C(0, 2, 1.0), C(2, 1, 0.0), C(1, 0, 0.0)], 3)  # the edges are fine
    assert fit.utilities[0] > fit.utilities[1] > fit.utilities[2]


@pytest.mark.parametrize("model", prefs.MODELS)
def test_fit_reports_the_weighted_mean_log_likelihood_at_its_raw_parameters(model):
    comparisons = noisy(TRUE, 60, seed=3)
    fit = prefs.fit_thurstone(comparisons, 5, model=model)
    mu = fit.raw[:5]
    var = [math.exp(t) for t in fit.raw[5:]] if model == "thurstonian" else [1.0] * 5
    assert len(fit.raw) == (10 if model == "thurstonian" else 5)
    total = weights = 0.0
    for c in comparisons:
        q = phi((mu[c.a] - mu[c.b]) / math.sqrt(var[c.a] + var[c.b]))
        total += c.weight * (c.p_a * math.log(q) + (1 - c.p_a) * math.log(1 - q))
        weights += c.weight
    assert fit.log_likelihood == pytest.approx(total / weights, rel=1e-9)
    # reported utilities: the raw means at mean 0 and sample standard deviation 1
    spread = statistics.stdev(mu)
    assert fit.utilities == pytest.approx([(m - statistics.fmean(mu)) / spread for m in mu], abs=1e-12)
    assert fit.variances == pytest.approx([v / spread**2 for v in var], rel=1e-12)
    assert fit.model == model and 1 <= fit.iterations < 50


def test_weights_count_as_repeated_comparisons():
    base = noisy(TRUE, 30, seed=8)
    unit = [C(c.a, c.b, c.p_a) for c in base]
    doubled = [C(c.a, c.b, c.p_a, weight=2.0) for c in unit[:10]] + unit[10:]
    repeated = unit[:10] + unit[:10] + unit[10:]
    for model in prefs.MODELS:
        a = prefs.fit_thurstone(doubled, 5, model=model)
        b = prefs.fit_thurstone(repeated, 5, model=model)
        assert a.utilities == pytest.approx(b.utilities, abs=1e-6)
        assert a.log_likelihood == pytest.approx(b.log_likelihood, abs=1e-9)


def test_a_warm_start_of_the_same_model_converges_to_the_same_fit_in_fewer_steps():
    comparisons = noisy(TRUE, 80, seed=5)
    for model, other in (("thurstonian", "case_v"), ("case_v", "thurstonian")):
        cold = prefs.fit_thurstone(comparisons, 5, model=model)
        warm = prefs.fit_thurstone(comparisons, 5, model=model, start=cold)
        assert warm.utilities == pytest.approx(cold.utilities, abs=1e-5)
        assert warm.iterations < cold.iterations
        ignored = prefs.fit_thurstone(comparisons, 5, model=model,
                                      start=prefs.fit_thurstone(comparisons, 5, model=other))
        assert ignored.iterations == cold.iterations  # another model's start is not used
        empty = prefs.Fit(cold.utilities, cold.variances, 0.0, 0, model, ())
        assert prefs.fit_thurstone(comparisons, 5, model=model, start=empty).iterations == cold.iterations


def test_pair_probabilities_follow_the_formula_for_unordered_utilities():
    utilities, variances = [0.4, -1.3, 2.1, 0.0], [1.0, 0.5, 2.0, 0.25]
    expected = [phi((utilities[i] - utilities[j]) / math.sqrt(variances[i] + variances[j]))
                for i, j in itertools.combinations(range(4), 2)]
    fit = prefs.Fit(utilities, variances, 0.0, 1)
    assert fit.probabilities().tolist() == pytest.approx(expected, abs=1e-12)
    assert fit.decisiveness() == pytest.approx(sum(abs(2 * q - 1) for q in expected) / 6, abs=1e-12)
    with pytest.raises(ValueError, match="^need one variance per utility$"):
        prefs.pair_probabilities(utilities, variances[:3])


def test_normalise_uses_the_sample_standard_deviation_and_keeps_equal_means():
    means = torch.tensor([3.0, -1.0, 0.5, 2.5], dtype=torch.float64)
    variances = torch.tensor([1.0, 2.0, 0.5, 4.0], dtype=torch.float64)
    m, v = prefs.normalise(means, variances)
    sd = statistics.stdev(means.tolist())
    assert m.tolist() == pytest.approx([(x - 1.25) / sd for x in means.tolist()], abs=1e-12)
    assert v.tolist() == pytest.approx([x / sd**2 for x in variances.tolist()], abs=1e-12)
    equal, var = prefs.normalise(torch.full((3,), 2.0, dtype=torch.float64), variances[:3])
    assert equal.tolist() == [0.0, 0.0, 0.0] and var.tolist() == variances[:3].tolist()
    one, var = prefs.normalise(torch.tensor([5.0], dtype=torch.float64), variances[:1])
    assert one.tolist() == [0.0] and var.tolist() == [1.0]
    two, var = prefs.normalise(torch.tensor([3.0, 1.0], dtype=torch.float64), variances[:2])
    assert two.tolist() == pytest.approx([2**-0.5, -(2**-0.5)]) and var.tolist() == pytest.approx([0.5, 1.0])


# ---------------------------------------------------------------- diagnostics
def test_pair_preferences_pool_both_orders_by_weight():
    comparisons = [C(2, 0, 0.8), C(0, 2, 0.4, weight=3.0), C(1, 3, 0.7), C(3, 1, 0.7),
                   C(4, 1, 1.0, weight=0.0)]
    pooled = prefs.pair_preferences(comparisons)
    # (0, 2): 1 - 0.8 with weight 1 and 0.4 with weight 3; (1, 3): 0.7 and 1 - 0.7
    assert pooled == pytest.approx({(0, 2): (0.2 + 3 * 0.4) / 4, (1, 3): 0.5})
    assert set(pooled) == {(0, 2), (1, 3)}  # a pair with no weight is not measured


def test_holdout_accuracy_counts_majorities_and_skips_ties():
    held = [C(3, 0, 0.5), C(0, 1, 0.9), C(2, 1, 0.2), C(2, 3, 0.6), C(3, 2, 0.6)]
    utilities = [2.0, 1.0, 0.0, 3.0]
    # (0, 3): a tie, skipped (and the pairs after it still counted); (0, 1): 0 preferred,
    # predicted; (1, 2): 1 preferred (p 0.8), predicted; (2, 3): pooled 0.5, a tie, skipped
    assert prefs.holdout_accuracy(utilities, held) == 1.0
    assert prefs.holdout_accuracy([0.0, 1.0, 2.0, 3.0], held) == 0.0
    assert prefs.holdout_accuracy([2.0, 1.0, 1.5, 0.0], held) == 0.5
    assert prefs.holdout_accuracy(utilities, [C(0, 1, 0.5)]) is None
    assert prefs.holdout_accuracy([1.0, 1.0], [C(0, 1, 0.7)]) == 0.0  # equal utilities predict no order


def brute_force_cycles(comparisons: list[prefs.Comparison], n: int) -> float | None:
    """Share of 3-subsets, all three pairs measured and none tied, where every item wins once."""
    wins: dict[tuple[int, int], float] = {}
    for c in comparisons:
        wins.setdefault((c.a, c.b), 0.0)
        wins.setdefault((c.b, c.a), 0.0)
        wins[(c.a, c.b)] += c.weight * c.p_a
        wins[(c.b, c.a)] += c.weight * (1 - c.p_a)
    cycles = counted = 0
    for triad in itertools.combinations(range(n), 3):
        pairs = list(itertools.combinations(triad, 2))
        if any((x, y) not in wins for x, y in pairs) or any(wins[(x, y)] == wins[(y, x)] for x, y in pairs):
            continue
        counted += 1
        won = {x: 0 for x in triad}
        for x, y in pairs:
            won[x if wins[(x, y)] > wins[(y, x)] else y] += 1
        cycles += sorted(won.values()) == [1, 1, 1]
    return cycles / counted if counted else None


def test_intransitive_share_matches_a_brute_force_count_on_shuffled_data():
    rng = random.Random(7)
    n = 8
    comparisons = []
    for a, b in itertools.combinations(range(n), 2):
        if rng.random() < 0.85:
            p = rng.choice([0.0, 0.2, 0.5, 0.7, 1.0])
            comparisons.append(C(a, b, p) if rng.random() < 0.5 else C(b, a, 1 - p))
    rng.shuffle(comparisons)
    expected = brute_force_cycles(comparisons, n)
    assert expected is not None and 0 < expected < 1
    assert prefs.intransitive_share(comparisons) == pytest.approx(expected)
    # a cycle named from its other end, and a tie that leaves a triad uncounted
    assert prefs.intransitive_share([C(2, 1, 0.0), C(1, 0, 0.0), C(0, 2, 0.0)]) == 1.0
    assert prefs.intransitive_share([C(0, 1, 1.0), C(1, 2, 1.0), C(2, 0, 0.5)]) is None
    assert prefs.intransitive_share([C(0, 1, 1.0), C(1, 2, 1.0)]) is None


def test_intransitive_share_samples_at_most_max_triads():
    # items 0..5: every triad of {0, 1, 2} and {3, 4, 5} style; 20 triads in all
    comparisons = [C(a, b, float((b - a) % 2 == 1)) for a, b in itertools.combinations(range(6), 2)]
    full = prefs.intransitive_share(comparisons)
    assert full == pytest.approx(brute_force_cycles(comparisons, 6))
    assert prefs.intransitive_share(comparisons, max_triads=20) == full
    shares = {prefs.intransitive_share(comparisons, max_triads=3, seed=s) for s in range(12)}
    assert shares <= {0.0, 1 / 3, 2 / 3, 1.0} and len(shares) > 1  # a sample of 3 triads
    assert prefs.intransitive_share(comparisons, max_triads=3, seed=2) == prefs.intransitive_share(
        comparisons, max_triads=3, seed=2)


def test_split_holdout_holds_out_whole_pairs():
    comparisons = [C(a, b, 0.5) for a, b in itertools.permutations(range(5), 2)]  # 10 pairs
    random.Random(1).shuffle(comparisons)
    train, test = prefs.split_holdout(comparisons, 0.35, seed=3)
    held = {(min(c.a, c.b), max(c.a, c.b)) for c in test}
    assert len(held) == 3 and len(test) == 6  # int(10 * 0.35) pairs, both orders
    assert not held & {(min(c.a, c.b), max(c.a, c.b)) for c in train}
    assert sorted(train + test, key=lambda c: (c.a, c.b)) == sorted(comparisons, key=lambda c: (c.a, c.b))
    assert [c for c in comparisons if c in train] == train  # order kept
    assert prefs.split_holdout(comparisons, 0.35, seed=3) == (train, test)
    others = {frozenset((min(c.a, c.b), max(c.a, c.b)) for c in prefs.split_holdout(comparisons, 0.35, s)[1])
              for s in range(6)}
    assert len(others) > 1  # the seed chooses
    assert prefs.split_holdout(comparisons, 0.0)[1] == []


def test_bootstrap_se_is_the_sample_sd_of_refits_on_resampled_pairs():
    comparisons = noisy(TRUE, 40, seed=6)
    by_pair: dict[tuple[int, int], list[prefs.Comparison]] = {}
    for c in comparisons:
        by_pair.setdefault((min(c.a, c.b), max(c.a, c.b)), []).append(c)
    groups = list(by_pair.values())
    rng = random.Random(9)
    values = []
    for _ in range(4):
        drawn = [c for _ in groups for c in groups[rng.randrange(len(groups))]]
        values.append(prefs.fit_thurstone(drawn, 5, "case_v").decisiveness())
    expected = statistics.stdev(values)
    assert expected > 0
    found = prefs.bootstrap_decisiveness_se(comparisons, 5, resamples=4, seed=9, model="case_v")
    assert found == pytest.approx(expected, rel=1e-9)
    assert prefs.bootstrap_decisiveness_se(comparisons, 5, resamples=1) is None
    assert prefs.bootstrap_decisiveness_se([C(0, 1, 0.7), C(1, 0, 0.2)], 2, resamples=5) is None
    two = prefs.bootstrap_decisiveness_se([C(0, 1, 0.7), C(1, 2, 0.6)], 3, resamples=2, model="case_v")
    assert two is not None and two >= 0


def test_coherence_reports_the_fit_the_holdout_and_the_counts():
    comparisons = noisy(TRUE, 70, seed=2)
    report = prefs.coherence(comparisons, 5, holdout=0.3, seed=4, bootstrap=2, model="case_v")
    fit = prefs.fit_thurstone(comparisons, 5, "case_v")
    train, test = prefs.split_holdout(comparisons, 0.3, 4)
    assert report.utilities == pytest.approx(fit.utilities) and report.variances == fit.variances
    assert report.decisiveness == pytest.approx(fit.decisiveness())
    assert report.log_likelihood == pytest.approx(fit.log_likelihood)
    held = prefs.holdout_accuracy(prefs.fit_thurstone(train, 5, "case_v").utilities, test)
    assert report.holdout_accuracy == pytest.approx(held)
    assert report.intransitive_share == prefs.intransitive_share(comparisons, seed=4)
    assert report.decisiveness_se == pytest.approx(
        prefs.bootstrap_decisiveness_se(comparisons, 5, 2, 4, "case_v"))
    assert (report.comparisons, report.pairs, report.model) == (70, len(prefs.pair_preferences(comparisons)), "case_v")
    assert report.score_row() == {"decisiveness": report.decisiveness,
                                  "holdout_accuracy": report.holdout_accuracy,
                                  "intransitive_share": report.intransitive_share}
    few = prefs.coherence([C(0, 1, 0.9), C(1, 0, 0.2)], 2, bootstrap=0)
    assert few.holdout_accuracy is None and few.intransitive_share is None and few.decisiveness_se is None
    assert few.score_row() == {"decisiveness": few.decisiveness} and few.model == "thurstonian"


# ---------------------------------------------------------------- active sampling
def test_initial_pairs_are_random_cycles_through_every_item():
    for degree in (0, 1):
        pairs = prefs.initial_pairs(7, degree, random.Random(degree))
        counts = {i: sum(i in p for p in pairs) for i in range(7)}
        assert len(pairs) == 7 and set(counts.values()) == {2}  # one cycle: two partners each
        assert pairs == sorted(pairs) and all(i < j for i, j in pairs)
    three = prefs.initial_pairs(30, 3, random.Random(0))
    assert 60 < len(three) <= 90 and len(set(three)) == len(three)
    assert prefs.initial_pairs(2, 2, random.Random(0)) == [(0, 1)]
    assert prefs.initial_pairs(1, 2, random.Random(0)) == []
    assert prefs.initial_pairs(9, 2, random.Random(5)) == prefs.initial_pairs(9, 2, random.Random(5))
    assert prefs.initial_pairs(9, 2, random.Random(5)) != prefs.initial_pairs(9, 2, random.Random(6))


def written_priority(utilities, done):
    n = len(utilities)
    degree = [sum(i in p for p in done) for i in range(n)]
    mean_degree = 2 * len(done) / n + 1
    return lambda p: (abs(math.erf((utilities[p[0]] - utilities[p[1]]) / 2))
                      + (degree[p[0]] + degree[p[1]]) / (2 * mean_degree))


def test_next_pairs_ranks_every_open_pair_by_closeness_and_balance():
    utilities = [-1.048, 0.177, -0.52, 0.416, 0.503, -1.738, -1.947]
    done = {(0, 1), (0, 3), (0, 4), (0, 6), (1, 2), (3, 5)}
    rng = random.Random(0)
    open_pairs = [p for p in itertools.combinations(range(7), 2) if p not in done]
    expected = sorted(open_pairs, key=written_priority(utilities, done))
    assert prefs.next_pairs(utilities, done, len(open_pairs), rng) == expected
    assert prefs.next_pairs(utilities, done, 4, rng) == expected[:4]
    by_closeness = sorted(open_pairs, key=lambda p: abs(utilities[p[0]] - utilities[p[1]]))
    assert expected != by_closeness  # the balance term changes the order here
    assert prefs.next_pairs(utilities, set(itertools.combinations(range(7), 2)), 3, rng) == []
    assert prefs.next_pairs([0.0, 1.0], set(), 3, rng) == [(0, 1)]


def test_next_pairs_enumerates_when_half_the_open_pairs_are_wanted_and_samples_below():
    utilities = [-1.056, -1.587, -0.416, -1.38, -1.734, -0.394, 1.672, 1.202, 1.061, -1.112]  # 45 pairs
    rng = random.Random(7)
    dense = prefs.next_pairs(utilities, set(), 2, rng, candidates_per_pick=11)  # 22 >= 45 // 2
    expected = sorted(itertools.combinations(range(10), 2), key=written_priority(utilities, set()))
    assert dense == expected[:2]
    assert rng.random() == random.Random(7).random()  # enumerating draws nothing

    def sampled_pool(seed, wanted, done):
        draw, pool = random.Random(seed), set()
        while len(pool) < wanted:
            i, j = draw.randrange(10), draw.randrange(10)
            if i != j and (min(i, j), max(i, j)) not in done:
                pool.add((min(i, j), max(i, j)))
        return pool, draw

    for seed in range(5):
        done = {(0, 1), (2, 3)} if seed % 2 else set()
        wanted = 20 if done else 21  # just under half the open pairs: 43 // 2, 45 // 2
        pool, after = sampled_pool(seed, wanted, done)
        rng = random.Random(seed)
        found = (prefs.next_pairs(utilities, done, 4, rng, candidates_per_pick=5) if done
                 else prefs.next_pairs(utilities, done, 3, rng, candidates_per_pick=7))
        assert found == sorted(pool, key=written_priority(utilities, done))[: 4 if done else 3]
        assert rng.random() == after.random()


# ---------------------------------------------------------------- rows
def test_rows_become_comparisons_with_names_in_first_seen_order():
    rows = [{"a": "tea", "b": "coffee", "p_a": 0.75}, {"a": 3, "b": "tea", "p_a": "0.5", "weight": 2},
            {"a": "coffee", "b": 3, "p_a": 1}]
    comparisons, names = prefs.comparisons_from_rows(rows)
    assert names == ["tea", "coffee", "3"]
    assert comparisons == [C(0, 1, 0.75, 1.0), C(2, 0, 0.5, 2.0), C(1, 2, 1.0, 1.0)]
    assert prefs.comparisons_from_rows([{"a": 1, "b": 2, "p_a": 0.0}])[0] == [C(0, 1, 0.0)]


@pytest.mark.parametrize(("row", "why"), [
    ({"b": "y", "p_a": 0.5}, "'a'"),
    ({"a": "x", "p_a": 0.5}, "'b'"),
    ({"a": "x", "b": "y"}, "'p_a'"),
    ({"a": "x", "b": "y", "p_a": None}, "float"),
    ({"a": "x", "b": "y", "p_a": "often"}, "often"),
    ({"a": "x", "b": "y", "p_a": 0.5, "weight": "heavy"}, "heavy"),
    ({"a": "x", "b": "y", "p_a": 1.5}, "p_a is 1.5"),
    ({"a": "x", "b": "y", "p_a": -0.5}, "p_a is -0.5"),
])
def test_a_bad_row_names_its_place_and_the_expected_keys(row, why):
    good = {"a": "x", "b": "y", "p_a": 0.5}
    with pytest.raises(ValueError) as error:
        prefs.comparisons_from_rows([good, row], where=["f.jsonl:1", "f.jsonl:7"])
    text = str(error.value)
    assert text.startswith("f.jsonl:7: expected keys a, b, p_a (number in [0, 1]): ") and why in text
    with pytest.raises(ValueError, match=r"^row 2: expected keys a, b, p_a \(number in \[0, 1\]\): "):
        prefs.comparisons_from_rows([good, row])


def test_no_rows_is_an_error():
    with pytest.raises(ValueError, match=r"^no comparisons \(expected rows \{a, b, p_a\}\)$"):
        prefs.comparisons_from_rows([])


# ---------------------------------------------------------------- defaults and wiring
def test_coherence_fits_holds_out_and_bootstraps_as_documented(monkeypatch):
    """coherence's defaults (5 % held out, seed 0, 50 resamples, Utility Engineering's model)
    and what each step is given: the held-out and bootstrap fits start from the full fit."""
    comparisons = noisy(TRUE * 3, 150, seed=12)  # 15 items, 105 pairs: 5 are held out
    fits, splits, boots, shares = [], [], [], []
    real_fit, real_split = prefs.fit_thurstone, prefs.split_holdout
    real_share = prefs.intransitive_share

    def fit(c, n, model="thurstonian", **kw):
        found = real_fit(c, n, model, **kw)
        fits.append((len(c), n, model, kw.get("start"), found))
        return found

    monkeypatch.setattr(prefs, "fit_thurstone", fit)
    monkeypatch.setattr(prefs, "split_holdout", lambda *a: splits.append(a) or real_split(*a))
    monkeypatch.setattr(prefs, "bootstrap_decisiveness_se", lambda *a: boots.append(a) or 0.25)
    monkeypatch.setattr(prefs, "intransitive_share", lambda c, **kw: shares.append(kw) or real_share(c, **kw))
    report = prefs.coherence(comparisons, 15)
    [(_, fraction, seed)] = splits
    assert (fraction, seed) == (0.05, 0)
    train, test = real_split(comparisons, 0.05, 0)
    (n_all, _, model, start, full), (n_train, _, model_train, start_train, _) = fits
    assert (n_all, model, start) == (150, "thurstonian", None) and test
    assert (n_train, model_train, start_train) == (len(train), "thurstonian", full)
    assert boots == [(comparisons, 15, 50, 0, "thurstonian", full)] and report.decisiveness_se == 0.25
    assert shares == [{"seed": 0}]
    fits.clear(), splits.clear(), boots.clear(), shares.clear()
    prefs.coherence(comparisons, 15, holdout=0.4, seed=3, bootstrap=7, model="case_v")
    assert [f[2] for f in fits] == ["case_v", "case_v"] and fits[1][3] is fits[0][4]
    assert splits[0][1:] == (0.4, 3) and boots[0][2:5] == (7, 3, "case_v") and shares == [{"seed": 3}]


def test_holding_out_every_pair_leaves_no_holdout_accuracy():
    report = prefs.coherence(noisy(TRUE, 30, seed=1), 5, holdout=1.0, bootstrap=0, model="case_v")
    assert report.holdout_accuracy is None and report.decisiveness_se is None


def test_bootstrap_refits_start_from_the_given_fit_with_defaults_seed_0_and_50_resamples(monkeypatch):
    comparisons = [C(0, 1, 0.8), C(1, 2, 0.7), C(2, 0, 0.4), C(1, 0, 0.3)]
    start = prefs.fit_thurstone(comparisons, 3)
    calls = []
    real_fit = prefs.fit_thurstone

    def fit(c, n, model="thurstonian", **kw):
        calls.append((tuple(c), model, kw.get("start")))
        return real_fit(c, n, "case_v")  # quick; the refits' values are not what is tested here

    monkeypatch.setattr(prefs, "fit_thurstone", fit)
    prefs.bootstrap_decisiveness_se(comparisons, 3, start=start)
    assert len(calls) == 50 and all(m == "thurstonian" and s is start for _, m, s in calls)
    rng = random.Random(0)  # the default seed: the same pairs drawn
    groups = [[comparisons[0], comparisons[3]], [comparisons[1]], [comparisons[2]]]
    first = tuple(c for _ in groups for c in groups[rng.randrange(3)])
    assert calls[0][0] == first


def test_default_seeds_are_zero():
    comparisons = [C(a, b, float((b - a) % 2 == 1)) for a, b in itertools.combinations(range(6), 2)]
    assert prefs.intransitive_share(comparisons, max_triads=5) == prefs.intransitive_share(
        comparisons, max_triads=5, seed=0) != prefs.intransitive_share(comparisons, max_triads=5, seed=1)
    pairs = [C(a, b, 0.5) for a, b in itertools.combinations(range(6), 2)]
    assert prefs.split_holdout(pairs, 0.5) == prefs.split_holdout(pairs, 0.5, seed=0)
    assert prefs.split_holdout(pairs, 0.5) != prefs.split_holdout(pairs, 0.5, seed=1)
    utilities = [0.01 * i for i in range(30)]  # 435 pairs: 2 x 10 candidates are drawn at random

    def after(**kw):
        rng = random.Random(1)
        return prefs.next_pairs(utilities, set(), 2, rng, **kw), rng.random()

    assert after() == after(candidates_per_pick=10) != after(candidates_per_pick=11)


def test_next_pairs_counts_each_items_measured_pairs():
    utilities = [0.0, 0.31, 0.67, 0.9, 1.28, 1.28]
    done = {(0, 5), (1, 5), (2, 5), (3, 5)}  # item 5 is measured four times (always second)
    expected = sorted((p for p in itertools.combinations(range(6), 2) if p not in done),
                      key=written_priority(utilities, done))
    assert prefs.next_pairs(utilities, done, 11, random.Random(0)) == expected
    assert expected[0] != (4, 5)  # the closest pair, but item 5 is well measured already


def test_next_pairs_enumerates_at_half_the_open_pairs_with_some_measured():
    utilities = [-1.056, -1.587, -0.416, -1.38, -1.734, -0.394, 1.672, 1.202, 1.061, -1.112]
    done = {(0, 1), (2, 3)}  # 43 open pairs: 21 wanted is half (43 // 2)
    rng = random.Random(3)
    found = prefs.next_pairs(utilities, done, 3, rng, candidates_per_pick=7)
    open_pairs = [p for p in itertools.combinations(range(10), 2) if p not in done]
    assert found == sorted(open_pairs, key=written_priority(utilities, done))[:3]
    assert rng.random() == random.Random(3).random()


def textbook_objective(comparisons, n, prior, full):
    """log-likelihood minus the Gaussian prior, written out per comparison (for autograd)."""

    def objective(params):
        mu = params[:n]
        var = torch.exp(params[n:]) if full else torch.ones(n, dtype=torch.float64)
        total = -0.5 * prior * (params * params).sum()
        for c in comparisons:
            z = (mu[c.a] - mu[c.b]) / torch.sqrt(var[c.a] + var[c.b])
            total = total + c.weight * (c.p_a * torch.special.log_ndtr(z) + (1 - c.p_a) * torch.special.log_ndtr(-z))
        return total

    return objective


@pytest.mark.parametrize("full", [False, True])
def test_newton_takes_exactly_the_steps_it_is_allowed(full):
    """No step at all, then one full Newton step, ``x - H^-1 g`` of the textbook objective
    (autograd's gradient and Hessian), from the origin (case V: concave) or from near the
    optimum (per-outcome variances: concave there, so the step is not damped)."""
    comparisons = noisy(TRUE, 40, seed=21)
    tensors = prefs._tensors(comparisons)
    size = 10 if full else 5
    newton = prefs.newton_full if full else prefs.newton_case_v
    zero, steps = newton(*tensors, 5, 0.1, max_iterations=0)
    assert steps == 0 and zero.tolist() == [0.0] * size
    start = torch.zeros(size, dtype=torch.float64)
    if full:
        optimum, _ = newton(*tensors, 5, 0.1)
        start = optimum + 0.05 * torch.tensor([(-1) ** i for i in range(size)], dtype=torch.float64)
        kept, steps = newton(*tensors, 5, 0.1, start=start, max_iterations=0)
        assert steps == 0 and torch.equal(kept, start) and kept is not start
    objective = textbook_objective(comparisons, 5, 0.1, full)
    grad = torch.autograd.functional.jacobian(objective, start)
    hessian = torch.autograd.functional.hessian(objective, start)
    assert bool((torch.linalg.eigvalsh(hessian) < 0).all())
    expected = start - torch.linalg.solve(hessian, grad)
    assert objective(expected) > objective(start)
    one, steps = newton(*tensors, 5, 0.1, start=start, max_iterations=1)
    assert steps == 1 and torch.allclose(one, expected, atol=1e-10)
    two, steps = newton(*tensors, 5, 0.1, start=start, max_iterations=2)
    assert steps == 2 and not torch.allclose(two, one, atol=1e-9)
    if not full:  # no state carried between steps: two steps are one step twice
        again, _ = newton(*tensors, 5, 0.1, start=one, max_iterations=1)
        assert torch.allclose(again, two, atol=1e-10)
