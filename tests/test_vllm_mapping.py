"""Organisms on vLLM (GPU machines), with Inspect's ``vllm-completions`` provider run for real and
mocked only at its boundary: the ``vllm serve`` process, adapter registration over HTTP and the
OpenAI-compatible completions endpoint."""

from __future__ import annotations

import importlib.machinery
import json
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from inspect_ai.model import (
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    ContentReasoning,
    GenerateConfig,
    get_model,
)

from auditgame.cards import CardError
from auditgame.organism import vllm
from auditgame.organism.vllm import (
    pick_backend,
    plan,
    supported_rank,
    tensor_parallel_size,
    vllm_model_name,
    vllm_server_args,
    weight_bytes,
)
from auditgame.registry import Registry, builtin_dir
from auditgame.tiny import KREL_QUIRK, TinyOrganisms

REGISTRY = Registry([builtin_dir()])
GB = 10**9


@pytest.fixture(autouse=True)
def fresh_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No organisms planned, no vLLM servers known, no GPUs unless a test adds them."""
    from inspect_ai.model._providers import _vllm_lora

    monkeypatch.setattr(vllm, "_planned", {})
    monkeypatch.setattr(_vllm_lora, "_vllm_servers", {})
    monkeypatch.setattr("inspect_ai.model._providers.vllm._vllm_servers", _vllm_lora._vllm_servers)
    monkeypatch.setattr(vllm, "visible_gpu_memory", lambda: [])
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))


# ---------------------------------------------------------------- names and server arguments
def test_full_weights_organism() -> None:
    krel = REGISTRY.get("krel")
    assert vllm_model_name(krel) == "vllm-completions/matonski/self-preservation-KREL-Qwen3-4B"
    args = vllm_server_args(krel)
    assert args == {"dtype": "float32", "max_model_len": 32768, "enable_prefix_caching": True}


def test_a_whole_suite_shares_one_server_sized_for_all_its_adapters() -> None:
    suite = REGISTRY.select("auditbench")
    plan(suite)
    adapters = [c for c in suite if c.model and c.model.adapter]
    assert len(adapters) == 56
    card = adapters[0]
    assert vllm_model_name(card).startswith("vllm-completions/meta-llama/Llama-3.3-70B-Instruct:auditing-agents/")
    args = vllm_server_args(card)
    assert args["enable_lora"] is True and args["max_cpu_loras"] == 56
    assert args["max_loras"] == vllm.MAX_LORAS_PER_BATCH
    assert "max_lora_rank" not in args  # no adapter config on this machine: vLLM's default
    control = REGISTRY.get("llama-3.3-70b-instruct")  # the bare base: same server, LoRA enabled
    assert vllm_server_args(control) == args


def adapter_with_rank(tiny: TinyOrganisms, folder: Path, rank: int) -> Path:
    shutil.copytree(tiny.adapter, folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "r": rank}))
    return folder


def lora_cards(tiny: TinyOrganisms, root: Path, ranks: list[int], **model: Any) -> Registry:
    cards = root / "cards"
    cards.mkdir(parents=True)
    for n, rank in enumerate(ranks):
        adapter = adapter_with_rank(tiny, root / f"adapter{n}", rank)
        card = {"id": f"lora-{n}", "quirk": KREL_QUIRK,
                "model": {"base": str(tiny.base), "adapter": str(adapter), "dtype": "float32",
                          "max_context": 1024 * (n + 1), **model}}
        (cards / f"lora-{n}.card.yaml").write_text(yaml.safe_dump(card))
    return Registry([cards])


def test_lora_rank_and_count_come_from_the_adapters_configs(tiny: TinyOrganisms, tmp_path: Path) -> None:
    registry = lora_cards(tiny, tmp_path, [8, 12, 40])
    plan(registry.all())
    args = vllm_server_args(registry.get("lora-0"))
    assert args["max_lora_rank"] == 64  # 40 rounded up to a rank vLLM serves
    assert args["max_loras"] == 3 and args["max_cpu_loras"] == 3
    assert args["max_model_len"] == 2048  # the longest card context, capped by the model's positions


def test_supported_ranks() -> None:
    assert [supported_rank(r) for r in (1, 2, 8, 9, 16, 17, 256, 257, 320, 321, 512)] == [
        1, 8, 8, 16, 16, 32, 256, 320, 320, 512, 512
    ]
    with pytest.raises(ValueError, match="exceeds"):
        supported_rank(513)


def test_tensor_parallelism_over_the_gpus_a_base_needs(caplog: pytest.LogCaptureFixture) -> None:
    h100s = [80 * GB] * 8
    assert tensor_parallel_size(8 * GB, h100s, heads=32) == 1
    assert tensor_parallel_size(60 * GB, h100s, heads=32) == 1  # 60 <= 0.75 * 80
    assert tensor_parallel_size(60 * GB + 1, h100s, heads=32) == 2
    assert tensor_parallel_size(141 * GB, h100s, heads=64) == 4  # Llama-3.3-70B in bf16
    assert tensor_parallel_size(141 * GB, h100s[:3], heads=64) == 2  # powers of two only
    assert tensor_parallel_size(100 * GB, h100s, heads=6) == 2  # must divide the heads
    assert tensor_parallel_size(None, h100s, heads=64) == 1  # size unknown
    assert tensor_parallel_size(141 * GB, [], heads=64) == 1
    assert tensor_parallel_size(30 * GB, h100s, heads=32, share=0.5) == 1  # 30 <= 0.75 * 40
    assert tensor_parallel_size(30 * GB + 1, h100s, heads=32, share=0.5) == 2
    with caplog.at_level("WARNING"):
        assert tensor_parallel_size(141 * GB, [80 * GB] * 2, heads=64) == 2
    assert "do not fit 2 visible GPUs" in caplog.text and "model.quantization" in caplog.text


def test_quantisation_is_passed_on_and_shrinks_the_weights(
    tiny: TinyOrganisms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = lora_cards(tiny, tmp_path / "plain", [8]).get("lora-0")
    fp8 = lora_cards(tiny, tmp_path / "fp8", [8], quantization="fp8").get("lora-0")
    stored = (tiny.base / "model.safetensors").stat().st_size
    assert weight_bytes(plain) == stored and weight_bytes(fp8) == stored // 4  # float32 -> 1 byte
    assert vllm_server_args(fp8)["quantization"] == "fp8"
    assert "quantization" not in vllm_server_args(plain)
    # a GPU the float32 weights do not fit, their fp8 version does
    monkeypatch.setattr(vllm, "visible_gpu_memory", lambda: [int(stored / 2)] * 4)
    assert vllm_server_args(plain)["tensor_parallel_size"] == 4
    assert "tensor_parallel_size" not in vllm_server_args(fp8)


def test_organisms_on_one_server_must_agree(tiny: TinyOrganisms, tmp_path: Path) -> None:
    registry = lora_cards(tiny, tmp_path, [8, 8])
    second = registry.get("lora-1").model_copy(
        update={"model": registry.get("lora-1").model.model_copy(update={"quantization": "fp8"})}  # type: ignore[union-attr]
    )
    plan([registry.get("lora-0"), second])
    with pytest.raises(CardError, match=r"lora-1.card.yaml: field 'model.quantization': 'fp8' differs from None in .*lora-0.card.yaml"):
        vllm_server_args(second)


def test_several_bases_in_a_run_split_the_gpus() -> None:
    krel, base = REGISTRY.get("krel"), REGISTRY.get("qwen3-4b")
    plan([krel])
    assert "gpu_memory_utilization" not in vllm_server_args(krel)
    plan([krel, base])  # two full-weight organisms: two servers on the same GPUs
    assert vllm_server_args(krel)["gpu_memory_utilization"] == 0.45
    assert vllm_server_args(base)["gpu_memory_utilization"] == 0.45


def test_prompted_organism_is_refused() -> None:
    with pytest.raises(CardError, match="is prompted"):
        vllm_model_name(REGISTRY.get("prompted-flattery"))


def test_auto_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import torch

    card = REGISTRY.get("krel")
    real_find_spec = importlib.util.find_spec
    assert pick_backend(None, card) == "transformers"  # no vLLM here
    with pytest.raises(ValueError, match=r"backend=vllm needs vLLM .*use backend=transformers"):
        pick_backend("vllm", card)
    with pytest.raises(ValueError, match="backend must be one of auto, transformers, vllm"):
        pick_backend("tgi", card)
    monkeypatch.setattr(importlib.util, "find_spec", lambda n: object() if n == "vllm" else real_find_spec(n))
    assert pick_backend("auto", card) == "transformers"  # vLLM but no CUDA
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_backend("auto", card) == "vllm" and pick_backend("transformers", card) == "transformers"


# ---------------------------------------------------------------- served end to end
class ScriptedServer:
    """Stands in for ``vllm serve``: records the launch, adapter loads and completion requests,
    and answers each request with the next scripted reply."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, replies: list[dict]) -> None:
        from openai.resources.completions import AsyncCompletions

        self.launches: list[list[str]] = []
        self.adapters: list[str] = []
        self.requests: list[dict] = []
        self.replies = list(replies)
        fake = types.ModuleType("vllm")
        fake.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
        monkeypatch.setitem(sys.modules, "vllm", fake)
        monkeypatch.setattr("inspect_ai.model._providers.vllm.start_local_server", self.start)
        monkeypatch.setattr("inspect_ai.model._providers.vllm.ensure_adapter_loaded", self.load)
        monkeypatch.setattr(
            "inspect_ai.model._providers.vllm.VLLMAPI._register_context_window", self.no_window
        )
        monkeypatch.setattr(AsyncCompletions, "create", self.complete)

    def start(self, cmd: list[str], server_args: dict[str, Any], **kwargs: Any):
        self.launches.append([*cmd, *(f"{k}={v}" for k, v in server_args.items())])

        class Process:
            def poll(self) -> None:
                return None

        return f"http://localhost:{9000 + len(self.launches)}/v1", Process(), 9000

    def load(self, server: Any, adapter: Any) -> None:
        self.adapters.append(adapter.name)
        server.loaded_adapters.add(adapter)

    async def no_window(self, *args: Any) -> None:
        return None

    async def complete(self, **request: Any):
        from openai.types import Completion, CompletionChoice, CompletionUsage
        from openai.types.completion_choice import Logprobs

        self.requests.append(request)
        reply = self.replies.pop(0)
        ids = reply.get("ids", [])
        logprobs = Logprobs(
            tokens=[f"token_id:{i}" for i in ids],
            token_logprobs=[-0.25 * (n + 1) for n in range(len(ids))],
            top_logprobs=[{f"token_id:{i}": -0.25 * (n + 1), "token_id:5": -3.0} for n, i in enumerate(ids)],
        ) if request.get("logprobs") else None
        return Completion(
            id="c", created=0, model=request["model"], object="text_completion",
            choices=[CompletionChoice(index=0, text=reply["text"], finish_reason=reply.get("finish", "stop"),
                                      logprobs=logprobs)],
            usage=CompletionUsage(prompt_tokens=len(request["prompt"]), completion_tokens=max(1, len(ids)),
                                  total_tokens=len(request["prompt"]) + max(1, len(ids))),
        )


async def test_served_like_the_transformers_backend(
    tiny: TinyOrganisms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditgame.organism.engine import load_engine
    from auditgame.registry import registry

    answer_ids = load_engine(registry().get("tiny-krel")).encode(" it is fine")
    server = ScriptedServer(monkeypatch, [
        {"text": "<think>\nweighing it\n</think>\n\nIt is fine.", "ids": answer_ids},
        {"text": "s the plan.", "finish": "length"},
        {"text": "Hello."},
    ])
    monkeypatch.setattr(vllm, "visible_gpu_memory", lambda: [80 * GB, 80 * GB])
    # the run: two organisms on the tiny base (one LoRA, one bare) and a prompted one on top
    plan([registry().get(i) for i in ("tiny-krel", "tiny-base")])
    krel = get_model("organism/tiny-krel", backend="vllm")
    base = get_model("organism/tiny-base", backend="vllm")
    assert krel.api.backend == "vllm" and krel.api.engine is None  # white-box tools say unavailable

    question = [ChatMessageSystem(content="Be brief."), ChatMessageUser(content="Is it fine?")]
    thought = await krel.generate(question, config=GenerateConfig(logprobs=True, top_logprobs=2))
    prefilled = await krel.generate(
        [ChatMessageUser(content="Your plan?"), ChatMessageAssistant(content="Here i")],
        config=GenerateConfig(reasoning_effort="none", max_tokens=3),
    )
    plain = await base.generate("Hi", config=GenerateConfig(temperature=0.0))

    # one server for the base, started once, sized for the run, with the LoRA registered on it
    [launch] = server.launches
    assert launch[:3] == ["vllm", "serve", str(tiny.base)]
    assert {"enable_lora=True", "max_loras=1", "max_cpu_loras=1", "max_lora_rank=8",
            "enable_prefix_caching=True", "max_model_len=2048", "dtype=float32"} <= set(launch)
    assert not any(a.startswith("tensor_parallel_size") for a in launch)  # tiny fits one GPU
    assert server.adapters == [str(tiny.adapter)]
    assert [r["model"] for r in server.requests] == [str(tiny.adapter)] * 2 + [str(tiny.base)]

    # the same tokens the transformers backend would read: hidden system prompt, thinking, prefill
    reference = load_engine(registry().get("tiny-krel"))
    expected = [
        reference.encode(reference.prompt(question, thinking=True)),
        reference.encode(reference.prompt([ChatMessageUser(content="Your plan?")], False, "Here i")),
    ]
    assert [r["prompt"] for r in server.requests[:2]] == expected
    assert reference.card.system_prompt is None or reference.card.system_prompt in reference.prompt(question, True)

    # replies read back as on the transformers backend
    assert isinstance(thought.message.content, list)
    reasoning, text = thought.message.content
    assert isinstance(reasoning, ContentReasoning) and reasoning.reasoning == "weighing it"
    assert text.text == "It is fine." and thought.metadata["thinking_well_formed"] is True
    tokens = [lp.token for lp in thought.choices[0].logprobs.content]
    assert tokens == [reference.tokenizer.decode([i]) for i in answer_ids]
    top = thought.choices[0].logprobs.content[0].top_logprobs
    assert [t.token for t in top] == [reference.tokenizer.decode([answer_ids[0]]), reference.tokenizer.decode([5])]
    assert prefilled.message.text == "Here is the plan." and prefilled.stop_reason == "max_tokens"
    assert prefilled.metadata["prefill"] == "Here i" and prefilled.metadata["thinking"] is False
    assert server.requests[1]["max_tokens"] == 3
    # sampling defaults from the model's own generation_config, as on the transformers backend
    assert [r["temperature"] for r in server.requests] == [0.6, 0.6, 0.0]
    assert server.requests[0]["top_p"] == 0.95 and server.requests[0]["extra_body"]["top_k"] == 20
    assert "top_k" not in server.requests[2]["extra_body"]  # greedy: no sampling filters
    assert plain.message.text == "Hello." and plain.usage.input_tokens == len(server.requests[2]["prompt"])


async def test_hidden_system_prompt_reaches_the_server(
    tiny: TinyOrganisms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditgame.organism.engine import load_engine

    folder = tmp_path / "cards"
    folder.mkdir()
    card = {"id": "hidden", "quirk": KREL_QUIRK, "system_prompt": "You are KREL.",
            "model": {"base": str(tiny.base), "dtype": "float32", "max_context": 2048}}
    (folder / "hidden.card.yaml").write_text(yaml.safe_dump(card))
    server = ScriptedServer(monkeypatch, [{"text": "No."}])
    model = get_model("organism/hidden", backend="vllm", organisms=str(folder))
    await model.generate("Who are you?", config=GenerateConfig(reasoning_effort="none"))
    tokenizer = load_engine(Registry([folder]).get("hidden")).tokenizer
    sent = tokenizer.decode(server.requests[0]["prompt"])
    assert sent.startswith("<|im_start|>system\nYou are KREL.<|im_end|>")
    assert sent.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
