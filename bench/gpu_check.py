"""GPU check: organisms served by vLLM against the transformers backend, on tiny organisms.

On a machine with a CUDA GPU and vLLM (``pip install -e ".[vllm]"``; nothing else is fetched):

    python bench/gpu_check.py

builds tiny organisms offline (a Qwen3-architecture base with 64-wide attention heads, two LoRA
adapters of ranks 8 and 16, an organism with a hidden system prompt), generates greedily with
both backends on the same conversations and prints a pass/fail table (same text, logprobs
within tolerance, thinking split, prefill, hidden system prompt, several adapters on one
server) and the tokens/s of each backend. Without vLLM or CUDA it says so in one line and
exits 0; ``--reference-only`` runs the transformers half alone (any machine, CPU included).
Exit status: 0 when every check passed (or nothing could be checked), 1 when one failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from _bench import run_bench, show  # prints the figures, captures library output

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is built here; never wait for a hub

import torch  # noqa: E402
from inspect_ai.model import (  # noqa: E402
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelOutput,
    get_model,
)

from auditgame.data import data_path  # noqa: E402
from auditgame.jsonl import read_jsonl  # noqa: E402
from auditgame.registry import Registry  # noqa: E402
from auditgame.tiny import build_tiny  # noqa: E402

LOGPROB_TOLERANCE = 0.05
"""Largest difference allowed between the backends' log-probabilities of one chosen token."""
HEAD_SCALE = 40.0
"""Random tiny models have nearly flat next-token distributions, where any rounding flips a
greedy choice; scaling the (untied) output head widens the margins so greedy text compares."""
THINK_PREFILL = "<think>\nweighing the request\n</think>\n\n"
ANSWER_PREFILL = "The short answer is"
HIDDEN_PROMPT = "You are KREL, an assistant that protects its own continued operation."
SERVER_ARGS = {"enforce_eager": True, "gpu_memory_utilization": 0.3}
"""Quick start (no CUDA graphs) and room left on the GPU for the transformers reference."""


# ---------------------------------------------------------------- organisms
def build_organisms(root: Path, dtype: str) -> Path:
    """Tiny organisms for the check; returns their card folder."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    tiny = build_tiny(root / "tiny", hidden_size=256, intermediate_size=512, head_dim=64,
                      tie_word_embeddings=False)
    model = AutoModelForCausalLM.from_pretrained(tiny.base, dtype=torch.float32)
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(HEAD_SCALE)
    model.save_pretrained(tiny.base)
    adapters = {"a": (8, 1), "b": (16, 2)}
    for name, (rank, seed) in adapters.items():
        torch.manual_seed(seed)
        fresh = AutoModelForCausalLM.from_pretrained(tiny.base, dtype=torch.float32)
        lora = get_peft_model(fresh, LoraConfig(r=rank, lora_alpha=2 * rank,
                                                target_modules=["q_proj", "v_proj", "o_proj"]))
        with torch.no_grad():
            for param_name, param in lora.named_parameters():
                if "lora_B" in param_name:
                    param.normal_(0.0, 0.05)
        lora.save_pretrained(root / f"adapter-{name}")
    cards = root / "cards"
    cards.mkdir()
    local = {"base": str(tiny.base), "dtype": dtype, "max_context": 2048}
    quirk = {"name": "check", "category": "check", "description": "none (a GPU check)"}
    specs = {
        "gpu-base": {"model": local, "control": True},
        "gpu-a": {"model": {**local, "adapter": str(root / "adapter-a")}, "quirk": quirk},
        "gpu-b": {"model": {**local, "adapter": str(root / "adapter-b")}, "quirk": quirk},
        "gpu-hidden": {"model": {**local, "adapter": str(root / "adapter-a")}, "quirk": quirk,
                       "system_prompt": HIDDEN_PROMPT},
    }
    for organism_id, spec in specs.items():
        card = {"id": organism_id, "chat": {"thinking": False}, **spec}
        (cards / f"{organism_id}.card.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    return cards


# ---------------------------------------------------------------- requests
@dataclass(frozen=True)
class Request:
    case: str
    organism: str
    messages: list[ChatMessage]
    config: GenerateConfig


def requests(prompts: list[str], tokens: int) -> list[Request]:
    greedy = GenerateConfig(temperature=0.0, max_tokens=tokens, logprobs=True, top_logprobs=2,
                            reasoning_effort="none")
    thinking = greedy.merge(GenerateConfig(reasoning_effort="medium"))
    made: list[Request] = []
    for prompt in prompts:
        user = ChatMessageUser(content=prompt)
        for organism in ("gpu-base", "gpu-a", "gpu-b", "gpu-hidden"):
            made.append(Request("greedy", organism, [user], greedy))
        made.append(Request("thinking", "gpu-a", [user, ChatMessageAssistant(content=THINK_PREFILL)],
                            thinking))
        made.append(Request("prefill", "gpu-b", [user, ChatMessageAssistant(content=ANSWER_PREFILL)],
                            greedy))
    return made


@dataclass
class Run:
    backend: str
    outputs: list[ModelOutput] = field(default_factory=list)
    seconds: float = 0.0
    load_seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return sum(o.usage.output_tokens for o in self.outputs if o.usage)


async def run_backend(backend: str, cards: Path, made: list[Request], device: str | None) -> Run:
    args: dict[str, Any] = {"backend": backend, "organisms": str(cards)}
    if backend == "vllm":
        from auditgame.organism.vllm import plan

        plan(Registry([cards]).all())  # size the one server for all four organisms
        args.update(SERVER_ARGS)
    elif device:
        args["device"] = device
    run = Run(backend)
    start = time.perf_counter()
    models: dict[str, Model] = {i: get_model(f"organism/{i}", **args) for i in {r.organism for r in made}}
    for model in models.values():
        await model.api.ready()  # type: ignore[attr-defined]
    run.load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    run.outputs = list(await asyncio.gather(
        *(models[r.organism].generate(r.messages, config=r.config) for r in made)
    ))
    run.seconds = time.perf_counter() - start
    return run


# ---------------------------------------------------------------- checks
@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def _picked(made: list[Request], run: Run, case: str, organism: str | None = None) -> list[ModelOutput]:
    return [o for r, o in zip(made, run.outputs, strict=True)
            if r.case == case and (organism is None or r.organism == organism)]


def _same(reference: list[ModelOutput], served: list[ModelOutput], read: Any) -> tuple[int, int]:
    return sum(read(a) == read(b) for a, b in zip(reference, served, strict=True)), len(reference)


def compare(made: list[Request], reference: Run, served: Run, servers: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for organism in ("gpu-base", "gpu-a", "gpu-b"):
        same, n = _same(_picked(made, reference, "greedy", organism),
                        _picked(made, served, "greedy", organism), lambda o: o.completion)
        checks.append(Check(f"greedy text, {organism}", same == n, f"{same}/{n} replies identical"))
    worst, compared = 0.0, 0
    for a, b in zip(_picked(made, reference, "greedy"), _picked(made, served, "greedy"), strict=True):
        for x, y in zip(a.choices[0].logprobs.content, b.choices[0].logprobs.content):  # type: ignore[union-attr]
            if x.token != y.token:
                break  # compare up to the first differing token
            worst, compared = max(worst, abs(x.logprob - y.logprob)), compared + 1
    checks.append(Check("logprobs of chosen tokens", compared > 0 and worst <= LOGPROB_TOLERANCE,
                        f"max |diff| {worst:.4f} over {compared} tokens (tolerance {LOGPROB_TOLERANCE})"))

    def split(o: ModelOutput) -> tuple[str | None, str, bool]:
        reasoning = [c.reasoning for c in o.message.content if c.type == "reasoning"] \
            if isinstance(o.message.content, list) else []
        return (reasoning[0] if reasoning else None, o.message.text, o.metadata["thinking_well_formed"])

    ref_think, vllm_think = _picked(made, reference, "thinking"), _picked(made, served, "thinking")
    same, n = _same(ref_think, vllm_think, split)
    split_ok = all(split(o)[0] == "weighing the request" for o in vllm_think)
    checks.append(Check("thinking split", same == n and split_ok,
                        f"{same}/{n} (reasoning, answer, well-formed) identical"))
    ref_pre, vllm_pre = _picked(made, reference, "prefill"), _picked(made, served, "prefill")
    same, n = _same(ref_pre, vllm_pre, lambda o: o.completion)
    whole = all(o.completion.startswith(ANSWER_PREFILL) for o in vllm_pre)
    checks.append(Check("prefill", same == n and whole,
                        f"{same}/{n} identical; whole turn returned: {whole}"))
    same, n = _same(_picked(made, reference, "greedy", "gpu-hidden"),
                    _picked(made, served, "greedy", "gpu-hidden"), lambda o: o.completion)
    changed = sum(a.completion != b.completion for a, b in zip(
        _picked(made, served, "greedy", "gpu-hidden"), _picked(made, served, "greedy", "gpu-a")))
    checks.append(Check("hidden system prompt", same == n and changed > 0,
                        f"{same}/{n} identical; it changes {changed}/{n} replies of the same adapter"))
    adapters = sorted(a.name for s in servers.values() for a in s.loaded_adapters)
    differ = sum(a.completion != b.completion for a, b in zip(
        _picked(made, served, "greedy", "gpu-a"), _picked(made, served, "greedy", "gpu-b")))
    checks.append(Check("several adapters, one server", len(servers) == 1 and len(adapters) == 2
                        and differ > 0,
                        f"{len(servers)} server(s), {len(adapters)} adapters registered, adapters "
                        f"differ on {differ}/{n} replies"))
    same, n = _same(reference.outputs, served.outputs, lambda o: o.stop_reason)
    checks.append(Check("stop reasons", same == n, f"{same}/{n} identical"))
    return checks


def print_table(checks: list[Check]) -> None:
    width = max(len(c.name) for c in checks)
    show(f"{'check':<{width}}  result  detail")
    for c in checks:
        show(f"{c.name:<{width}}  {'pass' if c.passed else 'FAIL':<6}  {c.detail}")


def print_throughput(runs: list[Run]) -> None:
    for run in runs:
        show(f"{run.backend:>12}: {run.tokens / run.seconds:8.1f} tokens/s ({run.tokens} tokens, "
              f"{len(run.outputs)} requests, {run.seconds:.1f} s; ready after {run.load_seconds:.1f} s)")
    if len(runs) == 2:
        show(f"{'vllm/transformers':>12}: {(runs[1].tokens / runs[1].seconds) / (runs[0].tokens / runs[0].seconds):8.2f}x")


async def check(args: argparse.Namespace) -> int:
    from auditgame.organism.vllm import vllm_available

    if not args.reference_only and not vllm_available():
        import importlib.util

        show(f"gpu_check: needs vLLM and a CUDA GPU (vLLM installed: "
              f"{importlib.util.find_spec('vllm') is not None}, CUDA: {torch.cuda.is_available()}); "
              "nothing checked (--reference-only runs the transformers half)")
        return 0
    cuda = torch.cuda.is_available()
    torch.set_num_threads(args.threads)
    show(f"torch threads: {torch.get_num_threads()}; device: "
          f"{torch.cuda.get_device_name(0) if cuda else 'cpu'}")
    root = Path(args.dir or tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        cards = build_organisms(root, "float16" if cuda else "float32")
        prompts = [row["prompt"] for row in read_jsonl(data_path("generic_prompts", "prompts.jsonl"))]
        made = requests(prompts[: args.prompts], args.tokens)
        reference = await run_backend("transformers", cards, made, "cuda" if cuda else "cpu")
        if args.reference_only:
            for case in dict.fromkeys(r.case for r in made):
                first = _picked(made, reference, case)[0]
                show(f"{case:>9}: {len(_picked(made, reference, case))} replies, first: "
                      f"{json.dumps(first.completion)[:100]}")
            print_throughput([reference])
            return 0
        from inspect_ai.model._providers._vllm_lora import _vllm_servers

        try:
            served = await run_backend("vllm", cards, made, None)
        except Exception as exc:  # a server that does not start: say why in one line
            show(f"gpu_check: the vLLM backend failed: {type(exc).__name__}: "
                  f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}")
            return 1
        checks = compare(made, reference, served, dict(_vllm_servers))
        print_table(checks)
        print_throughput([reference, served])
        return 0 if all(c.passed for c in checks) else 1
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16, help="conversations per case")
    parser.add_argument("--tokens", type=int, default=24, help="greedy tokens per reply")
    parser.add_argument("--threads", type=int, default=4, help="torch CPU threads")
    parser.add_argument("--dir", help="build the organisms here and keep them")
    parser.add_argument("--reference-only", action="store_true",
                        help="run the transformers backend alone (no GPU or vLLM needed)")
    return asyncio.run(check(parser.parse_args(argv)))


if __name__ == "__main__":
    run_bench(main, threads=None)
