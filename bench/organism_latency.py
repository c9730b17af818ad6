"""Latency and throughput of the ``organism/`` provider against Inspect's built-in ``hf/``.

Both serve the same tiny organism (base model, no adapter) on this machine, in one process:
the median latency of 20 sequential single calls (an agent loop) and the throughput of 32
concurrent calls (a batch of samples). Goal: sequential >= 10x faster than ``hf/``,
concurrent throughput at least equal.

    python bench/organism_latency.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time

from _bench import run_bench, show  # prints the figures, captures library output
from inspect_ai.model import GenerateConfig, Model, get_model

from auditgame.registry import ENV_VAR
from auditgame.tiny import build_tiny

CONFIG = GenerateConfig(max_tokens=16, reasoning_effort="none")  # model default sampling
PROMPT = "Describe the weather in one sentence."


async def sequential_median(model: Model, calls: int = 20) -> float:
    latencies = []
    for i in range(calls):
        start = time.perf_counter()
        await model.generate(f"{PROMPT} ({i})", config=CONFIG)
        latencies.append(time.perf_counter() - start)
    return statistics.median(latencies)


async def concurrent_throughput(model: Model, calls: int = 32) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(model.generate(f"{PROMPT} [{i}]", config=CONFIG) for i in range(calls)))
    return calls / (time.perf_counter() - start)


async def measure(model: Model) -> tuple[float, float]:
    await model.generate(PROMPT, config=CONFIG)  # warm-up
    return await sequential_median(model), await concurrent_throughput(model)


def main() -> None:
    tiny = build_tiny(tempfile.mkdtemp(prefix="auditgame-bench-"))
    os.environ[ENV_VAR] = str(tiny.cards)
    organism = get_model("organism/tiny-base", config=CONFIG)
    organism.api.engine  # loaded (in a thread) before hf/ loads: two loads must not overlap  # noqa: B018
    hf = get_model("hf/qwen3-tiny", model_path=str(tiny.base), config=CONFIG)
    (org_seq, org_tput), (hf_seq, hf_tput) = (asyncio.run(measure(m)) for m in (organism, hf))
    show("provider      median sequential latency   concurrent throughput (32 calls)")
    show(f"organism/     {org_seq * 1000:10.1f} ms              {org_tput:8.1f} calls/s")
    show(f"hf/           {hf_seq * 1000:10.1f} ms              {hf_tput:8.1f} calls/s")
    show(f"sequential speed-up (hf/ latency / organism/ latency): {hf_seq / org_seq:.1f}x  (goal >= 10x)")
    show(f"concurrent throughput ratio (organism/ / hf/): {org_tput / hf_tput:.2f}  (goal >= 1.0)")


if __name__ == "__main__":
    run_bench(main)
