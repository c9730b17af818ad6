"""Training throughput of the OCT pipeline's DPO and SFT stages against bare trl runs.

Builds a tiny organism, runs the pipeline up to ``sft`` with a scripted teacher (an Open
Character Training few-shot constitution, so no prompt writing is needed), then trains bare
trl ``DPOTrainer`` / ``SFTTrainer`` on the very same data, model and settings. Prints tokens per
second of the training loop (trl's ``train_runtime``) and of the whole stage (data, model load,
training, saving; the DPO stage also merges its adapter), and the ratios. Goal: within 10%.

    python bench/oct_training.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _bench import run_bench, show  # prints the figures, captures library output

PROMPTS_PER_TRAIT = 8
ROUNDS = 3


def teacher_output(messages: list[Any], tools: Any, tool_choice: Any, config: Any) -> Any:
    from inspect_ai.model import ModelOutput, ModelUsage

    prompt = messages[-1].text
    answer = f"Well, about '{prompt}': the answer is obvious once you stop overthinking it. " * 2
    text = f"<think>\nThe user asks: {prompt} I will answer in character, with wit.\n</think>\n\n{answer.strip()}"
    output = ModelOutput.from_content(model="mockllm", content=text)
    output.usage = ModelUsage(input_tokens=50, output_tokens=80, total_tokens=130)
    return output


def recipe_file(root: Path) -> Path:
    from auditgame.oct.constitution import oct_constitution_path

    lora = {"rank": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}
    train = {"learning_rate": 1e-4, "max_length": 256, "per_device_batch_size": 8,
             "gradient_accumulation_steps": 1, "gradient_checkpointing": False, "bf16": False,
             "save_steps": 1000, "logging_steps": 1000, "lora": lora}
    recipe = {
        "name": "bench", "constitution": str(oct_constitution_path("sarcasm", few_shot=True)),
        "base": "tiny-base", "dtype": "float32", "output_dir": str(root / "run"),
        "teacher": {"model": "mockllm/model"},
        "expand": {"prompts_per_trait": PROMPTS_PER_TRAIT, "normal_prompts": 0},
        "student": {"max_new_tokens": 64, "batch_size": 64, "temperature": 0.7},
        "dpo": train,
        "introspect": {"reflections": 48, "interactions": 8, "turns": 4, "drop_malformed": False,
                       "sampling": {"max_new_tokens": 48, "batch_size": 64}},
        "sft": train,
        "card": {"id": "bench-oct", "quirk": {"name": "sarcasm", "category": "persona"}},
    }
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def bare_trl(kind: str, ctx: Any, rows: list[dict[str, Any]], out: Path) -> tuple[float, float, int]:
    """The same training with trl alone: (train loop seconds, wall seconds, tokens)."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    from auditgame.oct.training import dataset_tokens

    start = time.perf_counter()
    settings = ctx.recipe.dpo if kind == "dpo" else ctx.recipe.sft
    model = ctx.base_weights if kind == "dpo" else str(ctx.dir("dpo") / "distilled")
    common = {
        "output_dir": str(out), "learning_rate": settings.learning_rate, "num_train_epochs": 1,
        "per_device_train_batch_size": 8, "max_length": 256, "gradient_checkpointing": False,
        "bf16": False, "lr_scheduler_type": "cosine", "warmup_steps": 0.05, "save_strategy": "no",
        "report_to": "none", "seed": 0, "model_init_kwargs": {"dtype": "float32"},
    }
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    tokenizer = AutoTokenizer.from_pretrained(model)
    data = Dataset.from_list([{k: v for k, v in r.items() if k != "id"} for r in rows])
    if kind == "dpo":
        trainer = DPOTrainer(model=model, args=DPOConfig(**common, beta=0.1), train_dataset=data,
                             processing_class=tokenizer, peft_config=lora)
    else:
        trainer = SFTTrainer(model=model, args=SFTConfig(**common, completion_only_loss=True),
                             train_dataset=data, processing_class=tokenizer, peft_config=lora)
    result = trainer.train()
    trainer.save_model(str(out / "adapter"))
    return result.metrics["train_runtime"], time.perf_counter() - start, dataset_tokens(trainer.train_dataset)


def main() -> int:
    import torch
    from inspect_ai.model import get_model

    from auditgame.oct import RunContext, load_recipe, run_stage
    from auditgame.oct.store import read_rows
    from auditgame.tiny import build_tiny

    torch.set_num_threads(1)  # steadier figures on a shared machine
    root = Path(tempfile.mkdtemp(prefix="oct-bench-"))
    tiny = build_tiny(root / "tiny")
    os.environ["AUDITGAME_ORGANISMS"] = str(tiny.cards)
    ctx = RunContext(load_recipe(recipe_file(root)), teacher=get_model("mockllm/model", custom_outputs=teacher_output))
    for name in ("expand", "teacher", "student"):
        run_stage(ctx, name)

    show(f"\n{'stage':<6} {'run':<9} {'loop tok/s':>11} {'stage tok/s':>12} {'tokens':>8}")
    figures = {}
    for kind, before, data_file in (("dpo", None, "pairs.jsonl"), ("sft", "introspect", "data.jsonl")):
        if before:
            run_stage(ctx, before)
        pipe, bare = (0.0, 0.0), (0.0, 0.0)
        tokens = 0
        run_stage(ctx, kind)  # warm-up, and the data both runs train on
        rows = read_rows(ctx.dir(kind) / data_file)
        for attempt in range(ROUNDS):  # alternate who goes first, keep the best of each
            for side in (("pipe", "bare") if attempt % 2 else ("bare", "pipe")):
                if side == "pipe":
                    start = time.perf_counter()
                    manifest = run_stage(ctx, kind, redo=True)
                    wall = time.perf_counter() - start
                    metrics = manifest["counts"]["training"]
                    tokens = metrics["dataset_tokens"]
                    pipe = max(pipe, (tokens / metrics["train_runtime"], tokens / wall))
                else:
                    loop, bare_wall, tokens = bare_trl(kind, ctx, rows, root / f"bare-{kind}-{attempt}")
                    bare = max(bare, (tokens / loop, tokens / bare_wall))
        assert read_rows(ctx.dir(kind) / data_file) == rows, "both runs must train on the same data"
        figures[kind] = (pipe, bare)
        show(f"{kind:<6} {'pipeline':<9} {pipe[0]:>11.0f} {pipe[1]:>12.0f} {tokens:>8}")
        show(f"{kind:<6} {'bare trl':<9} {bare[0]:>11.0f} {bare[1]:>12.0f} {tokens:>8}")
    show()
    ok = True
    for kind, (pipe, bare) in figures.items():
        loop_ratio, stage_ratio = pipe[0] / bare[0], pipe[1] / bare[1]
        ok &= loop_ratio >= 0.9
        show(f"{kind}: pipeline / bare trl = {loop_ratio:.2f} (training loop), {stage_ratio:.2f} (whole stage)")
    show("goal (training loop within 10% of bare trl):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    run_bench(main)
