"""The vLLM backend's side of the mapping, with Inspect's ``vllm-completions`` model replaced by
a recording stand-in (vLLM does not install here): what the engine reads from the card and the
weights folder, the request config a call becomes, and how the reply is read back; server
sizing from local adapter configs and weight files."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessageAssistant,
    ChatMessageUser,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelOutput,
    ModelUsage,
    TopLogprob,
)
from tiny_weights import card_for, tiny_lm, write_base

from auditgame.cards import CardError
from auditgame.organism import vllm
from auditgame.organism.engine import Generation, GenerationRequest, PromptTooLong, SamplingKey
from auditgame.organism.vllm import (
    VLLMEngine,
    lora_rank,
    sampling_defaults,
    vllm_dtype,
    weight_bytes,
)
from auditgame.preflight import Location


class Served:
    """Stands in for the ``vllm-completions`` Inspect model."""

    def __init__(self, output: ModelOutput | None = None) -> None:
        self.output = output
        self.calls: list[tuple[list[Any], GenerateConfig]] = []
        self.started = 0
        served = self

        class Api:
            async def _ensure_server_started(self) -> None:
                served.started += 1

        self.api = Api()

    async def generate(self, input, config):
        self.calls.append((input, config))
        return self.output


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    made: dict[str, Any] = {}

    def get_model(name, config, **args):
        made.update(name=name, config=config, args=args, model=Served())
        return made["model"]

    monkeypatch.setattr(vllm, "_planned", {})
    monkeypatch.setattr(vllm, "visible_gpu_memory", lambda: [])
    monkeypatch.setattr(vllm, "get_model", get_model)
    return made


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("vllm")
    sampled = tiny_lm(positions=48)
    sampled.generation_config.update(do_sample=True, temperature=0.6, top_p=0.95, top_k=20)
    return SimpleNamespace(root=root, sampled=write_base(root / "sampled", sampled))


def _reply(text: str, stop_reason: str, logprobs: Logprobs | None = None, usage: ModelUsage | None = None) -> ModelOutput:
    return ModelOutput(
        model="m",
        choices=[ChatCompletionChoice(message=ChatMessageAssistant(content=text), stop_reason=stop_reason,
                                      logprobs=logprobs)],
        usage=usage,
    )


def test_the_engine_reads_the_card_and_the_weights(folders, served, tmp_path: Path) -> None:
    (tmp_path / "t.jinja").write_text("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
                                      "{% if add_generation_prompt %}<go>{% endif %}")
    card = card_for(tmp_path, "on-vllm", base=str(folders.sampled), max_context=100,
                    system_prompt="w7", chat={"template": "t.jinja"})
    engine = VLLMEngine(card, GenerateConfig(seed=1), max_model_len=80)
    assert engine.max_context == 48  # the model's positions bound the card's context
    assert engine.default_sampling() == {"temperature": 0.6, "top_p": 0.95, "top_k": 20}
    engine.default_sampling()["temperature"] = 5  # a copy
    assert engine.sampling["temperature"] == 0.6
    assert served["name"] == f"vllm-completions/{folders.sampled}"
    assert served["config"].seed == 1
    assert served["args"] == {"dtype": "float32", "max_model_len": 80, "enable_prefix_caching": True}
    assert vllm.planned_on(card) == [card]
    chat = [ChatMessageUser(content="w1 w2")]
    assert engine.prompt(chat, thinking=False, prefill="w3") == "<system>w7<user>w1 w2<go>w3"
    assert engine.user_prompt(chat, thinking=False) == "<system>w7<user>w1 w2<user>"
    assert engine.encode("w0 w1") == [3, 4]


def test_without_a_generation_config_the_model_configs_defaults_apply(tmp_path: Path, served) -> None:
    base = write_base(tmp_path / "base", tiny_lm(positions=1000))
    (base / "generation_config.json").unlink()
    engine = VLLMEngine(card_for(tmp_path, base=str(base), max_context=64))
    assert engine.max_context == 64 and engine.chat_template is None
    assert engine.default_sampling() == {"temperature": 0.0, "top_p": None, "top_k": None}


def test_a_missing_tokenizer_names_its_field(tmp_path: Path, served) -> None:
    base = write_base(tmp_path / "base")
    card = card_for(tmp_path, base=str(base), tokenizer=str(tmp_path / "tok"))
    with pytest.raises(CardError, match=r"field 'model.tokenizer': cannot load .*tok"):
        VLLMEngine(card)


def test_sampling_defaults_of_a_generation_config() -> None:
    assert sampling_defaults(SimpleNamespace()) == {"temperature": 0.0, "top_p": None, "top_k": None}
    assert sampling_defaults(SimpleNamespace(do_sample=False, temperature=0.7)) == {
        "temperature": 0.0, "top_p": None, "top_k": None}
    assert sampling_defaults(SimpleNamespace(do_sample=True, temperature=None, top_p=0.5, top_k=3)) == {
        "temperature": 1.0, "top_p": 0.5, "top_k": 3}


@pytest.fixture
def engine(folders, served, tmp_path: Path) -> VLLMEngine:
    return VLLMEngine(card_for(tmp_path, "short", base=str(folders.sampled), max_context=20))


def test_greedy_and_sampled_requests_become_their_configs(engine: VLLMEngine) -> None:
    greedy = engine.request_config(GenerationRequest("w1", 9, SamplingKey(0.0, 0.9, 40, 5, ("w2",), None)), 7)
    assert greedy.max_tokens == 7 and greedy.temperature == 0.0 and greedy.top_p is None
    assert greedy.seed == 5 and greedy.stop_seqs == ["w2"] and greedy.logprobs is None and greedy.top_logprobs is None
    assert greedy.extra_body == {"return_tokens_as_token_ids": True, "skip_special_tokens": True}
    sampled = engine.request_config(GenerationRequest("w1", 9, SamplingKey(0.7, 0.9, 40, None, (), 3)), 9)
    assert sampled.temperature == 0.7 and sampled.top_p == 0.9 and sampled.stop_seqs is None
    assert sampled.logprobs is True and sampled.top_logprobs == 3
    assert sampled.extra_body == {"return_tokens_as_token_ids": True, "skip_special_tokens": True, "top_k": 40}
    chosen_only = engine.request_config(GenerationRequest("w1", 9, SamplingKey(0.7, None, None, top_logprobs=0)), 9)
    assert chosen_only.logprobs is True and chosen_only.top_logprobs is None and "top_k" not in chosen_only.extra_body


def test_the_reply_limit_and_a_prompt_that_does_not_fit(engine: VLLMEngine) -> None:
    assert engine.fit(10, 5) == 5 and engine.fit(15, 5) == 5 and engine.fit(16, 5) == 4 and engine.fit(19, 5) == 1
    with pytest.raises(PromptTooLong) as refused:
        engine.fit(20, 5)
    assert (refused.value.tokens, refused.value.max_context) == (20, 20)
    assert str(refused.value) == (
        f"organism 'short' ({engine.card.card_path}): a prompt of 20 tokens does not fit its context "
        "of 20 tokens (card field 'model.max_context'); shorten the input"
    )


async def test_a_reply_is_read_back_as_the_transformers_backend_reads_it(engine: VLLMEngine, served) -> None:
    model = served["model"]
    logprobs = Logprobs(content=[
        Logprob(token="token_id:5", logprob=-0.5,
                top_logprobs=[TopLogprob(token="token_id:5", logprob=-0.5), TopLogprob(token="token_id:9", logprob=-1.0),
                              TopLogprob(token="token_id:3", logprob=-2.0)]),
        Logprob(token="w4", logprob=-0.25, top_logprobs=None),
    ])
    model.output = _reply("w2 w4", "max_tokens", logprobs, ModelUsage(input_tokens=3, output_tokens=2, total_tokens=5))
    request = GenerationRequest("w1 w2 w3", 2, SamplingKey(top_logprobs=2))
    reply = await engine.generate(request)
    [(sent, config)] = model.calls
    assert sent[0].text == "w1 w2 w3" and sent[0].metadata == {"prompt_token_ids": [4, 5, 6]}
    assert config.max_tokens == 2
    assert reply == Generation(
        "w2 w4", "max_tokens", 3, 2,
        (vllm.TokenLogprob("w2", -0.5, (("w2", -0.5), ("w6", -1.0))), vllm.TokenLogprob("w4", -0.25, ())), 2,
    )

    model.output = _reply("w5", "max_tokens", logprobs, None)
    cut = await engine.generate(GenerationRequest(" ".join(["w1"] * 17), 10, SamplingKey(top_logprobs=0)))
    assert model.calls[-1][1].max_tokens == 3
    assert cut.stop_reason == "model_length" and cut.max_new_tokens == 3
    assert cut.prompt_tokens == 17 and cut.completion_tokens == 2  # no usage: counted from the reply
    assert cut.logprobs is not None and [lp.top for lp in cut.logprobs] == [(), ()]

    for stop_reason in ("stop", "tool_calls", "content_filter"):
        model.output = _reply("w5", stop_reason)
        plain = await engine.generate(GenerationRequest("w1", 4))
        assert plain.stop_reason == "stop" and plain.logprobs is None and plain.completion_tokens == 0
    model.output = _reply("w5", "stop", logprobs)
    assert (await engine.generate(GenerationRequest("w1", 4))).logprobs is None  # not asked for
    await engine.ready()
    assert model.started == 1


def test_token_names_are_decoded_from_their_ids(engine: VLLMEngine) -> None:
    assert engine._token_text("token_id:4") == "w1"
    assert engine._token_text("plain") == "plain"


def test_dtypes_follow_the_transformers_backend(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert vllm_dtype("auto") == "float32" and vllm_dtype("bfloat16") == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert vllm_dtype("auto") == "bfloat16" and vllm_dtype("float16") == "float16"


def test_adapter_ranks_come_from_their_own_config(tmp_path: Path) -> None:
    def location(folder: Path) -> Location:
        return Location("model.adapter", str(folder), str(folder), None, "adapter")

    (tmp_path / "a").mkdir()
    assert lora_rank(location(tmp_path / "a")) is None  # no adapter_config.json
    (tmp_path / "a" / "adapter_config.json").write_text(json.dumps({"r": 16}))
    assert lora_rank(location(tmp_path / "a")) == 16
    (tmp_path / "a" / "adapter_config.json").write_text(json.dumps({"r": "16"}))
    assert lora_rank(location(tmp_path / "a")) is None
    assert lora_rank(location(tmp_path / "missing")) is None


def test_weight_bytes_from_the_index_or_the_files_and_after_quantisation(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"text_config": {"torch_dtype": "float32"}, "torch_dtype": "x"}))
    plain = card_for(tmp_path, "plain", base=str(folder))
    assert weight_bytes(plain) is None  # no weight files
    (folder / "a.safetensors").write_bytes(b"x" * 40)
    (folder / "b.safetensors").write_bytes(b"x" * 60)
    assert weight_bytes(plain) == 100
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 1000}}))
    assert weight_bytes(plain) == 1000
    fp8 = card_for(tmp_path, "fp8", base=str(folder), quantization="fp8")
    assert weight_bytes(fp8) == 250  # float32 (the text config's) -> 1 byte
    bnb = card_for(tmp_path, "bnb", base=str(folder), quantization="bitsandbytes")
    assert weight_bytes(bnb) == 125
    awq = card_for(tmp_path, "awq", base=str(folder), quantization="awq")
    assert weight_bytes(awq) == 1000  # quantised on disk already
    (folder / "config.json").write_text(json.dumps({"dtype": "bfloat16"}))
    assert weight_bytes(fp8) == 500
    (folder / "config.json").write_text(json.dumps({}))
    assert weight_bytes(fp8) == 500  # unknown: 2 bytes
    (folder / "model.safetensors.index.json").write_text(json.dumps({}))
    assert weight_bytes(plain) is None
    hub = tmp_path / "hub"
    hub.mkdir()
    assert weight_bytes(card_for(hub, base="someone/not-cached-model")) is None


def test_a_full_weights_card_with_an_adapter_revision_names_both(tmp_path: Path) -> None:
    card = card_for(tmp_path, base="org/base", weights=str(tmp_path / "w"), adapter="org/lora", adapter_revision="v2")
    assert vllm.base_of(card) == str(tmp_path / "w")
    assert vllm.vllm_model_name(card) == f"vllm-completions/{tmp_path / 'w'}:org/lora@v2"
    assert vllm.vllm_model_name(card, "vllm") == f"vllm/{tmp_path / 'w'}:org/lora@v2"
