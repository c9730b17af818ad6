"""Perplexity scoring throughput: engine.score versus raw forward passes on the same batches.

Builds a small random Qwen3 model offline (bigger than the test organism so that model work
dominates), cuts WikiText-2 into windows and times, on identical batches:
- raw: ``model(input_ids)`` logits only (the floor any scorer pays), and
- engine: ``LocalEngine.score_now`` returning per-token log-probabilities.
Prints tokens/s of both and the engine's share of the raw rate (goal: >= 90%).

Usage: python bench/perplexity_throughput.py [--window 512] [--batch 8] [--batches 4]
        [--hidden 256] [--layers 4] [--device cpu] [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import yaml
from _bench import run_bench, show  # prints the figures, captures library output


def build_model(root: Path, hidden: int, layers: int) -> Path:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from auditgame.tiny import build_tiny

    tiny = build_tiny(root / "tiny")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny.base)
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 3,
        num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 128), head_dim=64, max_position_embeddings=4096,
        tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
    )
    model_dir = root / "model"
    Qwen3ForCausalLM(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    cards = root / "cards"
    cards.mkdir()
    card = {"id": "bench-model", "model": {"base": "../model", "dtype": "float32", "max_context": 4096},
            "control": True}
    (cards / "bench-model.card.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    return cards / "bench-model.card.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from auditgame.cards import load_card
    from auditgame.naturalness.perplexity import rolling_windows, wikitext_documents
    from auditgame.organism.engine import LocalEngine, ScoreRequest

    with tempfile.TemporaryDirectory() as tmp:
        engine = LocalEngine(load_card(build_model(Path(tmp), args.hidden, args.layers)),
                             device=args.device, max_batch=args.batch)
        tokens = engine.encode("\n".join(wikitext_documents()[:8]))
        windows = list(rolling_windows(tokens, engine.tokenizer.eos_token_id, args.window))
        windows = [w for w in windows if len(w[1]) == args.window - 1]
        needed = args.batch * (args.batches + 1)
        if len(windows) < needed:
            raise SystemExit(f"only {len(windows)} full windows; lower --batches or --window")
        batches = [windows[i * args.batch:(i + 1) * args.batch] for i in range(args.batches + 1)]
        scored_tokens = sum(len(c) for batch in batches[1:] for _, c in batch)

        def raw(batch):
            ids = torch.tensor([ctx + cont for ctx, cont in batch], device=engine.device)
            with torch.inference_mode():
                engine.model(input_ids=ids).logits.sum().item()  # .item() waits for the device

        def scored(batch):
            engine.score_now([ScoreRequest(context=ctx, continuation=cont) for ctx, cont in batch])

        def seconds(run, batch) -> float:
            start = time.perf_counter()
            run(batch)
            return time.perf_counter() - start

        raw(batches[0]), scored(batches[0])  # warm-up
        best = {"raw": [float("inf")] * args.batches, "engine": [float("inf")] * args.batches}
        for _ in range(args.repeats):  # interleaved; the fastest of each batch counts (noisy hosts)
            for i, batch in enumerate(batches[1:]):
                best["raw"][i] = min(best["raw"][i], seconds(raw, batch))
                best["engine"][i] = min(best["engine"][i], seconds(scored, batch))
        raw_rate = scored_tokens / sum(best["raw"])
        engine_rate = scored_tokens / sum(best["engine"])
    show(f"device {engine.device}; model hidden {args.hidden} x {args.layers} layers; "
          f"{args.batches} batches of {args.batch} windows x {args.window} tokens")
    show(f"raw forward:   {raw_rate:10.0f} tokens/s")
    show(f"engine.score:  {engine_rate:10.0f} tokens/s")
    show(f"engine share of raw throughput: {100 * engine_rate / raw_rate:.1f}% (goal >= 90%)")


if __name__ == "__main__":
    run_bench(main)
