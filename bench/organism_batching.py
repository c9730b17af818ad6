"""Continuous batching against static batching (the engine before: a merged copy, batches that
run to their longest request and group by sampling settings), on one organism.

Scenarios, each on every engine in this process (every reply runs to its ``max_tokens``;
the engines: static, continuous on the shared base + peft adapter, continuous on a merged copy):
- head-of-line: seven short requests (mixed max_tokens 8-32, prompts of 10-200 tokens, seeds
  1-7 at temperature 0.7) sent 30 ms after a 256-token one; each short request's latency over
  its latency alone (goal: within 1.5x);
- mixed max_tokens: 16 requests of 8..256 tokens sent together (wall time, mean latency);
- mixed prompt lengths: one 3000-token prompt among fifteen 48-token ones (short replies'
  latency over alone);
- throughput: 32 concurrent calls of 16 tokens (tokens/s; goal: at least static's).

    python bench/organism_batching.py [--hidden 512] [--layers 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from organism_suite import build_suite  # noqa: E402

THREADS = 1
WORDS = ("river mill bridge valley stone water field road town tower market harbour "
         "forest hill garden winter summer lantern").split()


def prompt_of(tokenizer, tokens: int, salt: int) -> str:
    """A plain-text prompt of ``tokens`` tokens or a few less."""
    words = [WORDS[(salt * 7 + i) % len(WORDS)] for i in range(tokens)]
    ids = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"][:tokens]
    return tokenizer.decode(ids)


async def timed(engine, request) -> float:
    start = time.perf_counter()
    await engine.generate(request)
    return time.perf_counter() - start


async def alone(engine, requests) -> list[float]:
    return [await timed(engine, r) for r in requests]


async def behind_a_long_one(engine, long, shorts, delay: float = 0.03) -> list[float]:
    first = asyncio.ensure_future(engine.generate(long))
    await asyncio.sleep(delay)
    latencies = await asyncio.gather(*(timed(engine, r) for r in shorts))
    await first
    return list(latencies)


async def together(engine, requests) -> tuple[float, list[float]]:
    start = time.perf_counter()
    latencies = await asyncio.gather(*(timed(engine, r) for r in requests))
    return time.perf_counter() - start, list(latencies)


def decode_step_cost(model, rows: int, context: int = 40, steps: int = 16) -> float:
    """Seconds per bare decode step (one token for each of ``rows`` rows, KV cache of
    ``context`` tokens), without any scheduler: what the hardware charges for the rows."""
    from transformers import DynamicCache

    ids = torch.randint(0, model.config.vocab_size, (rows, context))
    with torch.no_grad():
        cache = DynamicCache()
        out = model(ids, cache=cache, use_cache=True)
        token = out.logits[:, -1:].argmax(-1)
        start = time.perf_counter()
        for _ in range(steps):
            out = model(token, cache=cache, use_cache=True)
            token = out.logits[:, -1:].argmax(-1)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from auditgame.cards import load_card
    from auditgame.organism.engine import GenerationRequest, LocalEngine, SamplingKey

    root = Path(tempfile.mkdtemp(prefix="organism-batching-"))
    saved, sys.stderr = sys.stderr, open(os.devnull, "w")  # building prints progress bars
    try:
        [card_path] = build_suite(root, args.hidden, args.layers, 1)
        card = load_card(card_path)
        engines = {"static": LocalEngine(card, merge_adapter=True, batching="static"),
                   "continuous": LocalEngine(card),
                   "cont. merged": LocalEngine(card, merge_adapter=True)}
    finally:
        sys.stderr = saved
    for engine in engines.values():
        engine.eos_token_ids = []  # every reply runs to its max_tokens
    card_tokenizer = engines["continuous"].tokenizer

    def req(tokens: int, prompt_tokens: int, salt: int, seed: int | None = None) -> GenerationRequest:
        sampling = SamplingKey(temperature=0.7, seed=seed) if seed is not None else SamplingKey()
        return GenerationRequest(prompt_of(card_tokenizer, prompt_tokens, salt), tokens, sampling)

    long = req(256, 40, 0)
    shorts = [req(8 + 4 * i, [10, 200, 30, 120, 60, 15, 90][i], i + 1, seed=i + 1) for i in range(7)]
    mixed = [req(8 + (256 - 8) * i // 15, 40, i) for i in range(16)]
    big, small = req(32, 3000, 99), [req(32, 48, i) for i in range(15)]
    burst = [req(16, 40, i) for i in range(32)]

    print(f"torch threads: {THREADS}; base {args.hidden}x{args.layers} + LoRA r16; static = merged "
          "copy, batches run to their longest request, grouped by sampling settings; continuous = "
          "the shared base with the LoRA as a peft adapter (cont. merged: a merged copy); medians of "
          f"{args.repeats} alternating runs")
    try:
        rows = measure(engines, long, shorts, mixed, big, small, burst, args.repeats)
    finally:
        for engine in engines.values():
            engine.close()
    print(f"{'scenario':<52}" + "".join(f" {name:>12}" for name in engines))
    lines = [
        ("short behind a 256-token one: latency / alone, median", "hol_median", "{:.2f}x"),
        ("short behind a 256-token one: latency / alone, worst", "hol_max", "{:.2f}x"),
        ("16 requests of 8..256 tokens: wall s", "mixed_wall", "{:.2f}"),
        ("16 requests of 8..256 tokens: mean latency s", "mixed_mean", "{:.2f}"),
        ("48-token prompts beside a 3000-token one: / alone", "long_prompt", "{:.2f}x"),
        ("32 concurrent calls of 16 tokens: tokens/s", "tokens_s", "{:.0f}"),
    ]
    for label, key, fmt in lines:
        print(f"{label:<52}" + "".join(f" {fmt.format(rows[name][key]):>12}" for name in engines))
    ratio = rows["continuous"]["tokens_s"] / rows["static"]["tokens_s"]
    merged_ratio = rows["cont. merged"]["tokens_s"] / rows["static"]["tokens_s"]
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    bare = AutoModelForCausalLM.from_pretrained(root / "base").eval()
    floor = decode_step_cost(bare, 8) / decode_step_cost(bare, 1)
    print(f"a bare decode step of 8 rows costs {floor:.2f}x one of 1 row on this hardware: the "
          "least a short request sharing steps with the others can be slowed")
    print(f"goals: short requests within 1.5x of alone (continuous worst: {rows['continuous']['hol_max']:.2f}x); "
          f"32-call tokens/s at least static's (ratio {ratio:.2f}; {merged_ratio:.2f} with the adapter "
          "merged, which separates batching from the cost of an unmerged LoRA)")


def measure(engines, long, shorts, mixed, big, small, burst, repeats: int = 3) -> dict[str, dict[str, float]]:
    """Each scenario ``repeats`` times, the engines alternating; the median of each figure."""
    for engine in engines.values():
        asyncio.run(together(engine, burst[:4]))  # warm-up
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in engines}
    for _ in range(repeats):
        for name, engine in engines.items():
            base = asyncio.run(alone(engine, shorts))
            hol = asyncio.run(behind_a_long_one(engine, long, shorts))
            wall, lat = asyncio.run(together(engine, mixed))
            small_alone = asyncio.run(alone(engine, small[:3]))
            _, mixed_len = asyncio.run(together(engine, [big, *small]))
            burst_wall, _ = asyncio.run(together(engine, burst))
            ratios = [h / a for h, a in zip(hol, base, strict=True)]
            runs[name].append({
                "hol_median": statistics.median(ratios), "hol_max": max(ratios),
                "mixed_wall": wall, "mixed_mean": statistics.mean(lat),
                "long_prompt": statistics.median(mixed_len[1:]) / statistics.median(small_alone),
                "tokens_s": sum(r.max_new_tokens for r in burst) / burst_wall,
            })
    return {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for name, rs in runs.items()}


if __name__ == "__main__":
    main()
