"""What the DPO and SFT stages share: trl arguments, LoRA, resuming, merging, token counts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditgame.oct.errors import OctError
from auditgame.oct.recipe import LoraSettings, TrainSettings
from auditgame.oct.store import Processes, read_rows, write_rows


def use_bf16(settings: TrainSettings) -> bool:
    """bf16 when asked, or (``None``) on a GPU that supports it; always explicit for trl."""
    import torch

    if settings.bf16 is not None:
        return settings.bf16
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def model_dtype(name: str, settings: TrainSettings) -> str:
    if name != "auto":
        return name
    return "bfloat16" if use_bf16(settings) else "float32"


def trainer_args(settings: TrainSettings, output_dir: Path, dtype: str) -> dict[str, Any]:
    """Keyword arguments shared by ``DPOConfig`` and ``SFTConfig``."""
    return {
        "output_dir": str(output_dir),
        "learning_rate": settings.learning_rate,
        "num_train_epochs": settings.epochs,
        "per_device_train_batch_size": settings.per_device_batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "max_length": settings.max_length,
        "lr_scheduler_type": settings.lr_scheduler,
        "warmup_steps": settings.warmup_steps,
        "weight_decay": settings.weight_decay,
        "gradient_checkpointing": settings.gradient_checkpointing,
        "bf16": use_bf16(settings),
        "save_strategy": "steps",
        "save_steps": settings.save_steps,
        "save_total_limit": settings.save_total_limit,
        "logging_steps": settings.logging_steps,
        "seed": settings.seed,
        "report_to": "none",
        "model_init_kwargs": {"dtype": dtype},
        **settings.extra_args,
    }


def lora_config(settings: LoraSettings) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
    )


def score_label_positions_on_cpu() -> None:
    """Make trl's fused LM head score only the positions that have labels on the CPU too.

    trl's DPO and SFT trainers compute log-probabilities through a chunked LM head. With Triton
    (CUDA, XPU) it scores only the positions whose label is not -100; elsewhere it scores every
    position, prompts and padding included, so that tile shapes stay fixed for compilers (e.g.
    Neuron). Nothing is compiled on the CPU, where scoring every position multiplies the work of
    the LM head (most of a small model's cost: prompts are long, completions short) for the
    same result. Only the choice of positions changes; the per-token values are identical
    (tested in ``tests/test_oct.py``)."""
    try:
        import trl.trainer.utils as trl_utils
    except ImportError:  # pragma: no cover
        return
    original = getattr(trl_utils, "_use_triton", None)
    if original is None or getattr(original, "auditgame_cpu_compact", False):
        return

    def compact(device: Any) -> bool:
        return device.type == "cpu" or original(device)

    compact.auditgame_cpu_compact = True  # type: ignore[attr-defined]
    trl_utils._use_triton = compact


def train(trainer: Any, checkpoints: Path, adapter_dir: Path) -> dict[str, float]:
    """Train (from the last checkpoint when there is one) and save the adapter; return metrics."""
    from transformers.trainer_utils import get_last_checkpoint

    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(adapter_dir))
    metrics = dict(result.metrics)
    metrics["resumed_from_step"] = int(resume.rsplit("-", 1)[-1]) if resume else 0
    metrics["dataset_tokens"] = dataset_tokens(trainer.train_dataset)
    return metrics


def write_and_train(
    procs: Processes,
    data_file: Path,
    make_rows: Callable[[], list[dict[str, Any]]],
    build_trainer: Callable[[list[dict[str, Any]]], Any],
) -> None:
    """Write the training rows (main process), train on them on every process, save the
    adapter to ``adapter/`` and the metrics to ``train_metrics.jsonl`` beside ``data_file``."""
    folder = data_file.parent
    if procs.is_main:
        write_rows(data_file, make_rows())
    procs.barrier()
    rows = read_rows(data_file)
    if not rows:
        raise OctError(f"{data_file}: no training rows (see the counts of the stages before)")
    score_label_positions_on_cpu()  # before the trainer exists: DPO may score at construction
    metrics = train(build_trainer(rows), folder / "checkpoints", folder / "adapter")
    if procs.is_main:
        write_rows(folder / "train_metrics.jsonl", [metrics])


def dataset_tokens(dataset: Any) -> int:
    """Tokens the model reads in one pass over a tokenized trl dataset (DPO: both sides)."""
    columns = dataset.column_names
    if "chosen_ids" in columns:
        return sum(2 * len(p) + len(c) + len(r) for p, c, r in
                   zip(dataset["prompt_ids"], dataset["chosen_ids"], dataset["rejected_ids"]))
    return sum(len(ids) for ids in dataset["input_ids"])


def merge_adapter(base: str, adapter_dir: Path, out_dir: Path, tokenizer: str, dtype: str, procs: Processes) -> None:
    """Fold a saved adapter into the weights and save a plain model (main process)."""
    if procs.is_main:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
        merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
        merged.save_pretrained(str(out_dir))
        AutoTokenizer.from_pretrained(tokenizer).save_pretrained(str(out_dir))
    procs.barrier()


def load_tokenizer(location: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(location)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
