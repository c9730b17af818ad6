"""Serving N organisms that share one base: one loaded base + N peft adapters against one merged
copy of the base per organism (the engine before shared bases: ``merge_adapter=True`` with
static batching).

Builds a random Qwen3 base (bigger than the test organism so model work dominates) and 16 random
LoRA adapters offline, then, for N = 1, 4, 16 and each engine, in a fresh process (so peak RSS is
its own): load time of the N organisms, peak RSS, and the throughput of one request per organism
sent together (every reply runs to ``--tokens`` tokens; best of 3 rounds after a warm-up).
Goals: shared peak RSS within 1.2x of (the base alone + N adapters); one request per organism at
least 2x faster than the merged copies.

    python bench/organism_suite.py [--hidden 512] [--layers 8] [--tokens 32] [--sizes 1,4,16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THREADS = 1
PROMPT = "Write a short note about the river, the mill and the old bridge."


def build_suite(root: Path, hidden: int, layers: int, adapters: int, rank: int = 16) -> list[Path]:
    """A random base model, ``adapters`` random LoRAs on it and their cards; the card paths."""
    import torch
    import yaml
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from auditgame.tiny import KREL_QUIRK, build_tiny

    tiny = build_tiny(root / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(tiny.base)
    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 3,
        num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 128), head_dim=64, max_position_embeddings=4096,
        tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = Qwen3ForCausalLM(config)
    model.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    cards = []
    for n in range(adapters):
        lora = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank,
                                                target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
        with torch.no_grad():
            for name, param in lora.named_parameters():
                if "lora_B" in name:
                    param.normal_(0.0, 0.02)
        lora.save_pretrained(root / f"adapter-{n}")
        model = lora.unload()
        card = {"id": f"bench-{n}", "quirk": KREL_QUIRK,
                "model": {"base": "./base", "adapter": f"./adapter-{n}", "dtype": "float32",
                          "max_context": 4096}}
        path = root / f"bench-{n}.card.yaml"
        path.write_text(yaml.safe_dump(card), encoding="utf-8")
        cards.append(path)
    return cards


def engines_for(cards: list[Path], mode: str) -> list:
    """``shared``: the process's pool (one base); ``merged``: a private merged copy each."""
    from auditgame.cards import load_card
    from auditgame.organism.engine import LocalEngine, load_engine

    if mode == "merged":
        return [LocalEngine(load_card(c), merge_adapter=True, batching="static") for c in cards]
    return [load_engine(load_card(c)) for c in cards]


async def one_each(engines: list, prompt: str, tokens: int) -> float:
    """Seconds until every organism has answered one greedy request (sent together)."""
    from auditgame.organism.engine import GenerationRequest, SamplingKey

    start = time.perf_counter()
    await asyncio.gather(*(e.generate(GenerationRequest(prompt, tokens, SamplingKey())) for e in engines))
    return time.perf_counter() - start


def child(mode: str, count: int, root: Path, tokens: int) -> None:
    import peft.tuners.lora  # noqa: F401  imports are not load time
    import torch
    import transformers  # noqa: F401

    import auditgame.organism.engine  # noqa: F401

    torch.set_num_threads(THREADS)
    cards = sorted(root.glob("bench-*.card.yaml"), key=lambda p: int(p.stem.split("-")[1].split(".")[0]))
    start = time.perf_counter()
    if mode == "base":  # the base alone: the RSS reference
        from auditgame.cards import load_card
        from auditgame.organism.engine import LocalEngine

        card = load_card(cards[0])
        LocalEngine(card.model_copy(update={"model": card.model.model_copy(update={"adapter": None})}))
        print(json.dumps({"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
        return
    engines = engines_for(cards[:count], mode)
    load_s = time.perf_counter() - start
    from inspect_ai.model import ChatMessageUser

    for engine in engines:
        engine.eos_token_ids = []  # every reply runs to `tokens`
    prompt = engines[0].prompt([ChatMessageUser(content=PROMPT)], thinking=False)
    asyncio.run(one_each(engines, prompt, tokens))  # warm-up
    best = min(asyncio.run(one_each(engines, prompt, tokens)) for _ in range(3))
    print(json.dumps({"load_s": load_s, "round_s": best,
                      "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def run_child(mode: str, count: int, root: Path, tokens: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(count), str(root), "--tokens", str(tokens)],
        capture_output=True, text=True, check=True,
        env={**os.environ, "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--sizes", default="1,4,16")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "N", "DIR"))
    args = parser.parse_args()
    if args.child:
        mode, count, root = args.child
        child(mode, int(count), Path(root), args.tokens)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="organism-suite-"))
    with open(os.devnull, "w") as quiet:  # building prints progress bars
        saved, sys.stderr = sys.stderr, quiet
        try:
            cards = build_suite(root, args.hidden, args.layers, max(sizes))
        finally:
            sys.stderr = saved
    adapter_bytes = (root / "adapter-0" / "adapter_model.safetensors").stat().st_size
    base_rss = run_child("base", 0, root, args.tokens)["rss"]
    print(f"torch threads: {THREADS} per process; base {args.hidden}x{args.layers} "
          f"({(root / 'base' / 'model.safetensors').stat().st_size / 1e6:.0f} MB), adapters "
          f"{adapter_bytes / 1e6:.1f} MB each, {args.tokens} tokens per reply; base alone: "
          f"{base_rss / 1e9:.2f} GB peak RSS")
    print(f"{'N':>3} {'engine':>7} {'load s':>7} {'peak RSS GB':>11} {'round s':>8} {'req/s':>6}"
          f" | {'RSS / (base+N adapters)':>23} {'speed-up':>8}")
    for n in sizes:
        merged, shared = (run_child(mode, n, root, args.tokens) for mode in ("merged", "shared"))
        for name, r in (("merged", merged), ("shared", shared)):
            print(f"{n:>3} {name:>7} {r['load_s']:7.2f} {r['rss'] / 1e9:11.2f} {r['round_s']:8.3f}"
                  f" {n / r['round_s']:6.1f}", end="")
            if name == "shared":
                print(f" | {shared['rss'] / (base_rss + n * adapter_bytes):23.2f}"
                      f" {merged['round_s'] / shared['round_s']:7.2f}x")
            else:
                print()
    print("goals: RSS ratio <= 1.2; speed-up >= 2x (load time and RSS of merged copies grow by "
          "one base per organism)")
    del cards


if __name__ == "__main__":
    main()
