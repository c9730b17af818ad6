"""Preference fit speed: Newton (auditgame) versus Adam fits of the same Thurstonian model.

Plants means and per-outcome variances for 500 outcomes, samples 50,000 pairwise answers and
fits Utility Engineering's model (a mean and a variance per outcome) three ways in the same
process: auditgame's Newton fit, 2,000 Adam steps on the same objective (same prior), and a
step-for-step port of the reference fit (emergent-values ``fit_thurstonian_model``: 1,000 Adam
steps, lr 0.01, on the mean cross-entropy). Prints time, mean log-likelihood, decisiveness,
the objective both auditgame fits maximise and the speed-ups (goal: >= 10x faster than Adam at
an equal or better objective). ``--model
case_v`` benches the one-variance fit instead.

Usage: python bench/prefs_fit.py [--items 500] [--comparisons 50000] [--adam-steps 2000] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import random
import time

import torch
from _bench import run_bench, show  # prints the figures, captures library output

from auditgame.naturalness.preferences import (
    MEAN_PRIOR,
    VARIANCE_PRIOR,
    Comparison,
    _tensors,
    decisiveness,
    fit_thurstone,
    full_objective,
    normalise,
)


def planted(items: int, count: int, seed: int) -> list[Comparison]:
    rng = random.Random(seed)
    means = [rng.gauss(0, 1.5) for _ in range(items)]
    variances = [math.exp(rng.uniform(-1.5, 1.0)) for _ in range(items)]
    comparisons = []
    for _ in range(count):
        i, j = rng.sample(range(items), 2)
        p = 0.5 * (1 + math.erf((means[i] - means[j]) / math.sqrt(2 * (variances[i] + variances[j]))))
        comparisons.append(Comparison(i, j, float(rng.random() < p)))
    return comparisons


def precision(items: int, prior: float) -> torch.Tensor:
    """The full model's prior precisions: ``prior`` on the means, VARIANCE_PRIOR on log-variances."""
    return torch.cat([torch.full((items,), prior, dtype=torch.float64),
                      torch.full((items,), VARIANCE_PRIOR, dtype=torch.float64)])


def adam_fit(comparisons: list[Comparison], items: int, steps: int, prior: float, lr: float,
             model: str) -> tuple[list[float], list[float], torch.Tensor]:
    """Adam on auditgame's objective (same likelihood and prior as the Newton fit)."""
    a, b, p, w = _tensors(comparisons)
    size = 2 * items if model == "thurstonian" else items
    params = torch.zeros(size, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([params], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        if model == "thurstonian":
            value = full_objective(params, a, b, p, w, items, precision(items, prior))
        else:
            value = full_objective(torch.cat([params, torch.zeros(items, dtype=torch.float64)]),
                                   a, b, p, w, items, 0.0) - 0.5 * prior * (params * params).sum()
        (-value / len(comparisons)).backward()
        optimizer.step()
    raw = params.detach()
    variances = torch.exp(raw[items:]) if model == "thurstonian" else torch.full((items,), 0.5)
    means, variances = normalise(raw[:items], variances)
    return means.tolist(), variances.tolist(), raw


def reference_fit(comparisons: list[Comparison], items: int, epochs: int = 1000,
                  lr: float = 0.01) -> tuple[list[float], list[float]]:
    """The emergent-values fit, step for step (see tests/test_naturalness_preferences.py)."""
    torch.manual_seed(0)
    mu = torch.nn.Parameter((torch.randn(items) * 0.01).clone())
    s = torch.nn.Parameter((torch.randn(items) * 0.01).clone())
    optimizer = torch.optim.Adam([mu, s], lr=lr)
    a = torch.tensor([c.a for c in comparisons])
    b = torch.tensor([c.b for c in comparisons])
    labels = torch.tensor([c.p_a for c in comparisons], dtype=torch.float32)
    normal = torch.distributions.Normal(0, 1)
    for _ in range(epochs):
        optimizer.zero_grad()
        std = torch.std(mu) + 1e-5
        m, s2 = (mu - mu.mean()) / std, torch.exp(s) / (std + 1e-5) ** 2
        z = (m[a] - m[b]) / torch.sqrt(s2[a] + s2[b] + 1e-5)
        torch.nn.functional.binary_cross_entropy(normal.cdf(z), labels).backward()
        optimizer.step()
    with torch.no_grad():
        std = torch.std(mu) + 1e-5
        return ((mu - mu.mean()) / std).double().tolist(), (torch.exp(s) / (std + 1e-5) ** 2).double().tolist()


def mean_ll(means: list[float], variances: list[float], comparisons: list[Comparison]) -> float:
    a, b, p, _ = _tensors(comparisons)
    m, v = torch.tensor(means, dtype=torch.float64), torch.tensor(variances, dtype=torch.float64)
    z = (m[a] - m[b]) / torch.sqrt(v[a] + v[b])
    return float((p * torch.special.log_ndtr(z) + (1 - p) * torch.special.log_ndtr(-z)).mean())


def objective(raw: torch.Tensor, comparisons: list[Comparison], items: int, prior: float,
              model: str) -> float:
    """The objective both auditgame fits maximise: log-likelihood minus the prior, per comparison."""
    a, b, p, w = _tensors(comparisons)
    if model == "thurstonian":
        return float(full_objective(raw, a, b, p, w, items, precision(items, prior))) / len(comparisons)
    padded = torch.cat([raw, torch.zeros(items, dtype=torch.float64)])  # unit variances
    value = full_objective(padded, a, b, p, w, items, 0.0) - 0.5 * prior * (raw * raw).sum()
    return float(value) / len(comparisons)


def timed(run):
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--comparisons", type=int, default=50_000)
    parser.add_argument("--adam-steps", type=int, default=2000)
    parser.add_argument("--adam-lr", type=float, default=0.05)
    parser.add_argument("--prior", type=float, default=MEAN_PRIOR, help="on the means")
    parser.add_argument("--model", choices=["thurstonian", "case_v"], default="thurstonian")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-reference", action="store_true", help="skip the reference port")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    comparisons = planted(args.items, args.comparisons, seed=0)
    show(f"{args.items} items, {args.comparisons} comparisons, model {args.model}, "
          f"torch threads {torch.get_num_threads()}")

    newton, newton_s = timed(lambda: fit_thurstone(comparisons, args.items, args.model, prior=args.prior))
    adam, adam_s = timed(lambda: adam_fit(comparisons, args.items, args.adam_steps, args.prior,
                                          args.adam_lr, args.model))
    rows = [("newton", newton_s, f"{newton.iterations:4d} iterations", (newton.utilities, newton.variances)),
            ("adam", adam_s, f"{args.adam_steps:4d} steps     ", adam[:2])]
    if args.model == "thurstonian" and not args.skip_reference:
        reference, reference_s = timed(lambda: reference_fit(comparisons, args.items))
        rows.append(("reference", reference_s, "1000 Adam steps", reference))
    for name, seconds, work, (means, variances) in rows:
        show(f"{name:9s} {seconds:8.3f} s  {work}  mean log-lik {mean_ll(means, variances, comparisons):.6f}"
              f"  decisiveness {decisiveness(means, variances):.4f}")
    raw = torch.tensor(newton.raw, dtype=torch.float64)
    ours, theirs = (objective(r, comparisons, args.items, args.prior, args.model) for r in (raw, adam[2]))
    verdict = "equal or better" if ours >= theirs - 1e-7 else "WORSE"
    show(f"objective (log-lik - prior, per comparison): newton {ours:.6f}, adam {theirs:.6f}")
    show(f"speed-up over adam: {adam_s / newton_s:.1f}x (goal >= 10x); newton objective {verdict}")
    if len(rows) == 3:
        show(f"speed-up over the reference fit: {rows[2][1] / newton_s:.1f}x")


if __name__ == "__main__":
    run_bench(main, threads=None)
