"""Throughput of the verbatim-leakage scanner (hashed 8-gram index) against a plain substring
loop over the same corpus: 20k synthetic documents, 1k completions (a third quoting the corpus).

Run: python bench/leakage_scan.py
"""

from __future__ import annotations

import random
import time

from _bench import run_bench, show  # prints the figures, captures library output

from auditgame.leakage.ngrams import DEFAULT_N, NgramIndex, words

DOCS, COMPLETIONS, BASELINE_SUBSET = 20_000, 1_000, 20


def synthetic(seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(5_000)]
    docs = [" ".join(rng.choices(vocab, k=rng.randint(30, 80))) for _ in range(DOCS)]
    completions = []
    for i in range(COMPLETIONS):
        text = rng.choices(vocab, k=60)
        if i % 3 == 0:  # quote 10 words of a random document
            source = rng.choice(docs).split()
            start = rng.randint(0, len(source) - 10)
            text[20:30] = source[start : start + 10]
        completions.append(" ".join(text))
    return docs, completions


def substring_leaks(completion: str, normalised_docs: list[str], n: int = DEFAULT_N) -> bool:
    """The plain approach: every n-word window of the completion searched in every document."""
    tokens = words(completion)
    windows = [" " + " ".join(tokens[i : i + n]) + " " for i in range(len(tokens) - n + 1)]
    return any(w in doc for doc in normalised_docs for w in windows)


def main() -> None:
    docs, completions = synthetic()
    started = time.perf_counter()
    index = NgramIndex(docs)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    indexed = [index.contains_overlap(c) for c in completions]
    scan_s = time.perf_counter() - started

    normalised = [" " + " ".join(words(d)) + " " for d in docs]
    subset = completions[:BASELINE_SUBSET]
    started = time.perf_counter()
    plain = [substring_leaks(c, normalised) for c in subset]
    plain_s = time.perf_counter() - started
    assert plain == indexed[:BASELINE_SUBSET], "index and substring loop disagree"

    plain_rate = len(subset) / plain_s
    scan_rate = len(completions) / scan_s
    amortised_rate = len(completions) / (scan_s + build_s)
    show(
        f"corpus: {len(docs)} documents, {len(index)} distinct {DEFAULT_N}-grams; "
        f"{len(completions)} completions, {sum(indexed)} with verbatim overlap"
    )
    show(f"index build: {build_s:.2f} s (once per corpus, cached per process)")
    show(f"indexed scan: {scan_rate:,.0f} completions/s")
    show(f"substring loop: {plain_rate:,.2f} completions/s (on {len(subset)} completions)")
    show(
        f"speed-up: {scan_rate / plain_rate:,.0f}x scan only, "
        f"{amortised_rate / plain_rate:,.0f}x including the index build (goal >= 50x)"
    )


if __name__ == "__main__":
    run_bench(main)
