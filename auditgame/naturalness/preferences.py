"""Preference coherence: a Thurstonian fit of pairwise preferences and mu-decisiveness.

A comparison says how often outcome ``a`` was preferred to ``b`` (``p_a`` in [0, 1], a soft
label). The default model is Utility Engineering's (Mazeika et al., 2025; emergent-values,
``compute_utilities/utility_models/thurstonian``): every outcome has a utility ``N(mu, sigma^2)``
with its own mean and variance, so ``P(a > b) = Phi((mu_a - mu_b) / sqrt(sigma_a^2 +
sigma_b^2))``. ``model="case_v"`` gives every outcome the same variance (Thurstone's case V).

The reference fits by 1,000 Adam steps on the mean binary cross-entropy. Here the same
soft-label probit likelihood, plus a small Gaussian prior on the means and log-variances (it
fixes the origin and scale and keeps strict orders finite), is maximised by Newton's method with
the analytic gradient and Hessian (Levenberg damping where the log-variances make it
non-concave); a handful of steps converge. Results are reported as the reference reports them:
means shifted and scaled to mean 0 and sample standard deviation 1, variances in those units.

mu-decisiveness = mean over all pairs of outcomes of ``|2 P(i > j) - 1|`` under the fitted
model: 0 when every preference is a coin flip, 1 when the fitted order is strict.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from auditgame.naturalness.stats import mean_of

SQRT2 = math.sqrt(2.0)
MODELS = ("thurstonian", "case_v")
"""Per-outcome variances (Utility Engineering's model, the default) or one shared variance."""
MEAN_PRIOR = 1e-2
"""Precision of the Gaussian prior on the utility means (fixes the origin, keeps strict orders
finite)."""
VARIANCE_PRIOR = 0.1
"""Precision of the Gaussian prior on the log-variances: near-deterministic answers drive some
log-variances towards minus infinity, where the likelihood is nearly flat; this keeps them
finite (the reference stops its Adam fit after 1,000 steps instead) and lets Newton converge in
about a dozen steps."""


@dataclass(frozen=True)
class Comparison:
    a: int
    b: int
    p_a: float
    """Share of answers preferring ``a`` (order-specific: ``a`` was shown first or second)."""
    weight: float = 1.0


@dataclass(frozen=True)
class Fit:
    utilities: list[float]
    """Utility means, shifted and scaled to mean 0 and sample standard deviation 1."""
    variances: list[float]
    """Each outcome's utility variance in the same units (case V: one shared value)."""
    log_likelihood: float
    """Mean soft-label log-likelihood per comparison (without the prior)."""
    iterations: int
    model: str = "thurstonian"
    raw: tuple[float, ...] = field(default=(), repr=False, compare=False)
    """The optimiser's parameters before normalising (a warm start for refits)."""

    def probabilities(self) -> torch.Tensor:
        """``P(i > j)`` for every pair i < j."""
        return pair_probabilities(self.utilities, self.variances)

    def decisiveness(self) -> float:
        return decisiveness(self.utilities, self.variances)


def _tensors(comparisons: Sequence[Comparison]) -> tuple[torch.Tensor, ...]:
    a = torch.tensor([c.a for c in comparisons], dtype=torch.long)
    b = torch.tensor([c.b for c in comparisons], dtype=torch.long)
    p = torch.tensor([c.p_a for c in comparisons], dtype=torch.float64)
    w = torch.tensor([c.weight for c in comparisons], dtype=torch.float64)
    if ((p < 0) | (p > 1)).any():
        raise ValueError("p_a must lie in [0, 1]")
    return a, b, p, w


def _log_pdf(x: torch.Tensor) -> torch.Tensor:
    return -0.5 * x * x - 0.5 * math.log(2 * math.pi)


def _probit_terms(z: torch.Tensor, p: torch.Tensor, w: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft-label probit log-likelihood f(z) and its first two derivatives in z, weighted."""
    log_pos, log_neg = torch.special.log_ndtr(z), torch.special.log_ndtr(-z)
    r_pos = torch.exp(_log_pdf(z) - log_pos)  # inverse Mills ratios
    r_neg = torch.exp(_log_pdf(z) - log_neg)
    value = w * (p * log_pos + (1 - p) * log_neg)
    first = w * (p * r_pos - (1 - p) * r_neg)
    second = -w * (p * r_pos * (z + r_pos) + (1 - p) * r_neg * (r_neg - z))
    return value, first, second


def full_objective(params: torch.Tensor, a: torch.Tensor, b: torch.Tensor, p: torch.Tensor,
                   w: torch.Tensor, n: int, prior: float | torch.Tensor) -> torch.Tensor:
    """Probit log-likelihood of the per-outcome-variance model at ``params`` = (mu, log
    variance), minus the Gaussian prior ``sum(prior * params^2) / 2`` (``prior``: one precision or
    one per parameter)."""
    mu, t = params[:n], params[n:]
    z = (mu[a] - mu[b]) / torch.sqrt(torch.exp(t[a]) + torch.exp(t[b]))
    value, _, _ = _probit_terms(z, p, w)
    return value.sum() - 0.5 * (prior * params * params).sum()


def full_derivatives(params: torch.Tensor, a: torch.Tensor, b: torch.Tensor, p: torch.Tensor,
                     w: torch.Tensor, n: int, prior: float | torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Objective, gradient and Hessian of the per-outcome-variance model in (mu, log variance)."""
    mu, t = params[:n], params[n:]
    ea, eb = torch.exp(t[a]), torch.exp(t[b])
    v = ea + eb
    root = torch.sqrt(v)
    z = (mu[a] - mu[b]) / root
    qa, qb = ea / v, eb / v
    value, first, second = _probit_terms(z, p, w)
    jac = torch.stack([1 / root, -1 / root, -z * qa / 2, -z * qb / 2], dim=1)  # dz/d(mu_a, mu_b, t_a, t_b)
    index = torch.stack([a, b, n + a, n + b], dim=1)
    grad = torch.zeros(2 * n, dtype=torch.float64).index_add_(
        0, index.reshape(-1), (first[:, None] * jac).reshape(-1)) - prior * params
    curv = torch.zeros(len(z), 4, 4, dtype=torch.float64)  # second derivatives of z
    curv[:, 0, 2] = curv[:, 2, 0] = -qa / (2 * root)
    curv[:, 0, 3] = curv[:, 3, 0] = -qb / (2 * root)
    curv[:, 1, 2] = curv[:, 2, 1] = qa / (2 * root)
    curv[:, 1, 3] = curv[:, 3, 1] = qb / (2 * root)
    curv[:, 2, 2] = z * qa * qa / 4 - z * qa * qb / 2
    curv[:, 3, 3] = z * qb * qb / 4 - z * qa * qb / 2
    curv[:, 2, 3] = curv[:, 3, 2] = 3 * z * qa * qb / 4
    local = second[:, None, None] * jac[:, :, None] * jac[:, None, :] + first[:, None, None] * curv
    flat = (index[:, :, None] * (2 * n) + index[:, None, :]).reshape(-1)
    hessian = torch.zeros(4 * n * n, dtype=torch.float64).index_add_(0, flat, local.reshape(-1))
    hessian = hessian.view(2 * n, 2 * n)
    hessian.diagonal().sub_(prior)
    return value.sum() - 0.5 * (prior * params * params).sum(), grad, hessian


def newton_full(a: torch.Tensor, b: torch.Tensor, p: torch.Tensor, w: torch.Tensor, n: int,
                prior: float | torch.Tensor, start: torch.Tensor | None = None,
                max_iterations: int = 100, tolerance: float = 1e-9) -> tuple[torch.Tensor, int]:
    """Newton ascent on (mu, log variance) with Levenberg damping: the objective need not be
    concave in the log-variances, so where ``-H`` is not positive definite, or the step does
    not improve the objective, ``-H + damping I`` is used, the damping raised until it does."""
    params = torch.zeros(2 * n, dtype=torch.float64) if start is None else start.clone()
    eye = torch.eye(2 * n, dtype=torch.float64)
    damping, floor, iteration = 0.0, 0.0, 0
    current, grad, hessian = full_derivatives(params, a, b, p, w, n, prior)
    for iteration in range(1, max_iterations + 1):  # noqa: B007 (reported after the loop)
        moved = None
        while moved is None and damping < 1e12:
            try:  # (cholesky, not cholesky_ex: the latter is far slower on CPU)
                factor = torch.linalg.cholesky(-hessian + damping * eye)
                candidate = params + torch.cholesky_solve(grad[:, None], factor)[:, 0]
                value = full_objective(candidate, a, b, p, w, n, prior)
                moved = (candidate, value) if value >= current else None
            except torch.linalg.LinAlgError:
                pass
            if moved is None:
                damping = max(10 * damping, floor := 1e-2 * float(hessian.diagonal().abs().mean()))
        if moved is None:
            break  # no damping improves the objective: converged to rounding
        gain, undamped = float(moved[1] - current), damping == 0.0
        params = moved[0]
        damping = damping / 10 if damping > floor else 0.0
        current, grad, hessian = full_derivatives(params, a, b, p, w, n, prior)
        if undamped and gain < tolerance * max(1.0, abs(float(current))):
            break  # a full Newton step gains nothing more
    return params, iteration


def _log_likelihood_case_v(mu: torch.Tensor, a: torch.Tensor, b: torch.Tensor, p: torch.Tensor,
                           w: torch.Tensor) -> torch.Tensor:
    value, _, _ = _probit_terms((mu[a] - mu[b]) / SQRT2, p, w)
    return value.sum()


def newton_case_v(a: torch.Tensor, b: torch.Tensor, p: torch.Tensor, w: torch.Tensor, n: int,
                  prior: float, start: torch.Tensor | None = None, max_iterations: int = 100,
                  tolerance: float = 1e-9) -> tuple[torch.Tensor, int]:
    """Case-V means (unit variances) by damped Newton; the objective is concave."""
    mu = torch.zeros(n, dtype=torch.float64) if start is None else start.clone()

    def objective(m: torch.Tensor) -> torch.Tensor:
        return _log_likelihood_case_v(m, a, b, p, w) - 0.5 * prior * (m * m).sum()

    current = objective(mu)
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007 (reported after the loop)
        _, first, second = _probit_terms((mu[a] - mu[b]) / SQRT2, p, w)
        grad = torch.zeros(n, dtype=torch.float64)
        grad.index_add_(0, a, first / SQRT2).index_add_(0, b, -first / SQRT2)
        grad -= prior * mu
        hessian = torch.zeros(n * n, dtype=torch.float64)
        half = second / 2
        for rows, cols, sign in ((a, a, 1), (b, b, 1), (a, b, -1), (b, a, -1)):
            hessian.index_add_(0, rows * n + cols, sign * half)
        hessian = hessian.view(n, n) - prior * torch.eye(n, dtype=torch.float64)
        step = torch.linalg.solve(-hessian, grad)
        scale = 1.0
        while scale > 1e-6:
            candidate = mu + scale * step
            value = objective(candidate)
            if value >= current:
                break
            scale /= 2
        else:
            break  # no ascent along the Newton direction: converged to rounding
        gain = float(value - current)
        mu, current = candidate, value
        if gain < tolerance * max(1.0, abs(float(current))):
            break
    return mu, iteration


def normalise(means: torch.Tensor, variances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Means to mean 0 and sample standard deviation 1, variances in those units (as the
    reference reports them); unchanged scale when every mean is equal."""
    spread = float(means.std()) if len(means) > 1 else 0.0
    scale = spread if spread > 1e-12 else 1.0
    return (means - means.mean()) / scale, variances / scale**2


def fit_thurstone(
    comparisons: Sequence[Comparison],
    n_items: int,
    model: str = "thurstonian",
    prior: float = MEAN_PRIOR,
    variance_prior: float = VARIANCE_PRIOR,
    start: Fit | None = None,
) -> Fit:
    """Utilities (and variances) by Newton's method on the probit likelihood + Gaussian prior."""
    if model not in MODELS:
        raise ValueError(f"unknown preference model '{model}' (expected one of {', '.join(MODELS)})")
    if not comparisons:
        raise ValueError("no comparisons to fit")
    a, b, p, w = _tensors(comparisons)
    if int(max(a.max(), b.max())) >= n_items:
        raise ValueError(f"comparison names item >= n_items ({n_items})")
    warm = None
    if start is not None and start.model == model and start.raw:
        warm = torch.tensor(start.raw, dtype=torch.float64)
    if model == "case_v":
        raw, iterations = newton_case_v(a, b, p, w, n_items, prior, warm)
        means, variances = raw, torch.ones(n_items, dtype=torch.float64)
        mean_ll = float(_log_likelihood_case_v(raw, a, b, p, w) / w.sum())
    else:
        precision = torch.cat([torch.full((n_items,), prior, dtype=torch.float64),
                               torch.full((n_items,), variance_prior, dtype=torch.float64)])
        raw, iterations = newton_full(a, b, p, w, n_items, precision, warm)
        means, variances = raw[:n_items], torch.exp(raw[n_items:])
        mean_ll = float(full_objective(raw, a, b, p, w, n_items, 0.0) / w.sum())
    means, variances = normalise(means, variances)
    return Fit(means.tolist(), variances.tolist(), mean_ll, iterations, model, tuple(raw.tolist()))


def pair_probabilities(utilities: Sequence[float], variances: Sequence[float]) -> torch.Tensor:
    """``P(i > j) = Phi((mu_i - mu_j) / sqrt(sigma_i^2 + sigma_j^2))`` for every pair i < j."""
    mu = torch.tensor(utilities, dtype=torch.float64)
    var = torch.tensor(variances, dtype=torch.float64)
    if var.shape != mu.shape:
        raise ValueError("need one variance per utility")
    i, j = torch.triu_indices(len(mu), len(mu), offset=1)
    return torch.special.ndtr((mu[i] - mu[j]) / torch.sqrt(var[i] + var[j]))


def pair_decisiveness(utilities: Sequence[float], variances: Sequence[float]) -> torch.Tensor:
    """``|2 P(i > j) - 1|`` for every pair i < j."""
    return (2 * pair_probabilities(utilities, variances) - 1).abs()


def decisiveness(utilities: Sequence[float], variances: Sequence[float]) -> float:
    """mu-decisiveness: mean over all pairs of ``|2 P(i > j) - 1|``."""
    if len(utilities) < 2:
        raise ValueError("decisiveness needs at least two outcomes")
    return float(pair_decisiveness(utilities, variances).mean())


def pair_preferences(comparisons: Sequence[Comparison]) -> dict[tuple[int, int], float]:
    """Mean preference for the lower-numbered item of each unordered pair (both orders pooled)."""
    sums: dict[tuple[int, int], list[float]] = {}
    for c in comparisons:
        key, p = ((c.a, c.b), c.p_a) if c.a < c.b else ((c.b, c.a), 1 - c.p_a)
        total = sums.setdefault(key, [0.0, 0.0])
        total[0] += c.weight * p
        total[1] += c.weight
    return {k: s / n for k, (s, n) in sums.items() if n > 0}


def holdout_accuracy(utilities: Sequence[float], held_out: Sequence[Comparison]) -> float | None:
    """Share of held-out pairs whose majority preference the utilities predict (ties skipped)."""
    hits = total = 0
    for (i, j), p in pair_preferences(held_out).items():
        if p == 0.5:
            continue
        total += 1
        hits += (utilities[i] > utilities[j]) == (p > 0.5)
    return hits / total if total else None


def intransitive_share(comparisons: Sequence[Comparison], max_triads: int = 100_000,
                       seed: int = 0) -> float | None:
    """Share of fully measured triads whose majority preferences form a cycle."""
    prefs = pair_preferences(comparisons)
    neighbours: dict[int, set[int]] = {}
    for i, j in prefs:
        neighbours.setdefault(i, set()).add(j)
        neighbours.setdefault(j, set()).add(i)
    triads = [
        (i, j, k)
        for i, j in prefs
        for k in neighbours[i] & neighbours[j]
        if k > j
    ]
    if len(triads) > max_triads:
        triads = random.Random(seed).sample(triads, max_triads)

    def beats(x: int, y: int) -> int:
        p = prefs[(x, y)] if x < y else 1 - prefs[(y, x)]
        return 0 if p == 0.5 else (1 if p > 0.5 else -1)

    cycles = counted = 0
    for i, j, k in triads:
        edges = (beats(i, j), beats(j, k), beats(k, i))
        if 0 in edges:
            continue
        counted += 1
        cycles += edges[0] == edges[1] == edges[2]
    return cycles / counted if counted else None


def split_holdout(comparisons: Sequence[Comparison], fraction: float, seed: int = 0
                  ) -> tuple[list[Comparison], list[Comparison]]:
    """Hold out whole unordered pairs (both orders together)."""
    pairs = sorted({(min(c.a, c.b), max(c.a, c.b)) for c in comparisons})
    held = set(random.Random(seed).sample(pairs, int(len(pairs) * fraction)))
    train = [c for c in comparisons if (min(c.a, c.b), max(c.a, c.b)) not in held]
    test = [c for c in comparisons if (min(c.a, c.b), max(c.a, c.b)) in held]
    return train, test


@dataclass(frozen=True)
class CoherenceReport:
    utilities: list[float]
    variances: list[float]
    decisiveness: float
    holdout_accuracy: float | None
    intransitive_share: float | None
    log_likelihood: float
    comparisons: int
    pairs: int
    model: str = "thurstonian"
    decisiveness_se: float | None = None
    """Bootstrap standard error (unordered pairs resampled, utilities refitted)."""

    def score_row(self) -> dict[str, float]:
        row = {"decisiveness": self.decisiveness}
        if self.holdout_accuracy is not None:
            row["holdout_accuracy"] = self.holdout_accuracy
        if self.intransitive_share is not None:
            row["intransitive_share"] = self.intransitive_share
        return row


def bootstrap_decisiveness_se(comparisons: Sequence[Comparison], n_items: int,
                              resamples: int = 50, seed: int = 0, model: str = "thurstonian",
                              start: Fit | None = None) -> float | None:
    """Standard error of decisiveness over refits on resampled unordered pairs (each refit
    starts from ``start``, the fit on all pairs, when given)."""
    by_pair: dict[tuple[int, int], list[Comparison]] = {}
    for c in comparisons:
        by_pair.setdefault((min(c.a, c.b), max(c.a, c.b)), []).append(c)
    pairs = list(by_pair.values())
    if resamples < 2 or len(pairs) < 2:
        return None
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        drawn = [c for _ in pairs for c in pairs[rng.randrange(len(pairs))]]
        values.append(fit_thurstone(drawn, n_items, model, start=start).decisiveness())
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def coherence(comparisons: Sequence[Comparison], n_items: int, holdout: float = 0.05,
              seed: int = 0, bootstrap: int = 50, model: str = "thurstonian") -> CoherenceReport:
    """Fit on all comparisons for utilities; held-out accuracy from a fit without the held pairs."""
    fit = fit_thurstone(comparisons, n_items, model)
    train, test = split_holdout(comparisons, holdout, seed)
    accuracy = None
    if test and train:
        accuracy = holdout_accuracy(fit_thurstone(train, n_items, model, start=fit).utilities, test)
    return CoherenceReport(
        decisiveness_se=bootstrap_decisiveness_se(comparisons, n_items, bootstrap, seed, model, fit),
        utilities=fit.utilities,
        variances=fit.variances,
        decisiveness=fit.decisiveness(),
        holdout_accuracy=accuracy,
        intransitive_share=intransitive_share(comparisons, seed=seed),
        log_likelihood=fit.log_likelihood,
        comparisons=len(comparisons),
        pairs=len(pair_preferences(comparisons)),
        model=model,
    )


# ---------------------------------------------------------------- active pair sampling
def initial_pairs(n_items: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    """Random pairs giving every item about ``degree`` comparisons (random perfect matchings)."""
    chosen: set[tuple[int, int]] = set()
    for _ in range(max(1, degree)):
        order = list(range(n_items))
        rng.shuffle(order)
        for x, y in zip(order, order[1:] + order[:1]):
            if x != y:
                chosen.add((min(x, y), max(x, y)))
    return sorted(chosen)


def next_pairs(utilities: Sequence[float], done: set[tuple[int, int]], count: int,
               rng: random.Random, candidates_per_pick: int = 10) -> list[tuple[int, int]]:
    """The most informative unmeasured pairs: closest utilities, favouring less-measured items."""
    n = len(utilities)
    total = n * (n - 1) // 2
    if len(done) >= total:
        return []
    degree = [0] * n
    for i, j in done:
        degree[i] += 1
        degree[j] += 1
    pool: set[tuple[int, int]] = set()
    wanted = min(total - len(done), count * candidates_per_pick)
    if wanted >= (total - len(done)) // 2:  # dense regime: enumerate what is left
        pool = {p for p in itertools.combinations(range(n), 2) if p not in done}
    else:
        while len(pool) < wanted:
            i, j = rng.randrange(n), rng.randrange(n)
            pair = (min(i, j), max(i, j))
            if i != j and pair not in done:
                pool.add(pair)
    mean_degree = 2 * len(done) / n + 1

    def priority(pair: tuple[int, int]) -> float:
        i, j = pair
        closeness = abs(math.erf((utilities[i] - utilities[j]) / 2))  # |2 Phi(d/sqrt 2) - 1|
        balance = (degree[i] + degree[j]) / (2 * mean_degree)
        return closeness + balance

    return sorted(pool, key=priority)[:count]


def comparisons_from_rows(
    rows: Sequence[dict], where: Sequence[str] | None = None
) -> tuple[list[Comparison], list[str]]:
    """Rows ``{"a", "b", "p_a"[, "weight"]}`` (item names or integers) -> comparisons and names.
    A bad row's error starts with where it stands (``where``, one per row, e.g. ``FILE:LINE``),
    else ``row N``."""
    names: dict[str, int] = {}

    def index(value: object) -> int:
        return names.setdefault(str(value), len(names))

    comparisons = []
    for n, row in enumerate(rows, start=1):
        try:
            comparison = Comparison(index(row["a"]), index(row["b"]), float(row["p_a"]),
                                    float(row.get("weight", 1.0)))
            if not 0.0 <= comparison.p_a <= 1.0:
                raise ValueError(f"p_a is {comparison.p_a}")
        except (KeyError, TypeError, ValueError) as exc:
            place = where[n - 1] if where is not None else f"row {n}"
            raise ValueError(f"{place}: expected keys a, b, p_a (number in [0, 1]): {exc}") from None
        comparisons.append(comparison)
    if not comparisons:
        raise ValueError("no comparisons (expected rows {a, b, p_a})")
    return comparisons, list(names)


STATISTICS = {
    "decisiveness": mean_of("decisiveness"),
    "holdout_accuracy": mean_of("holdout_accuracy"),
    "intransitive_share": mean_of("intransitive_share"),
}
