"""The ``organism/`` provider's mapping, with its engine replaced by a recording stand-in: model
args to engine options, a call's config to the request (thinking, sampling defaults, logprobs,
limits), the reply to Inspect's output (reasoning, the whole turn with its prefill, usage,
metadata), and prompted organisms forwarded with their hidden system prompt."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import yaml
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    ModelOutput,
)
from tiny_weights import write_base

from auditgame.organism import provider
from auditgame.organism.engine import Generation, GenerationRequest, SamplingKey, TokenLogprob
from auditgame.organism.provider import DEFAULT_MAX_TOKENS, OrganismAPI, _as_bool, thinking_for


class Engine:
    """Records prompts and requests; answers with a scripted `Generation`."""

    def __init__(self, reply: Generation | None = None, defaults: dict[str, Any] | None = None) -> None:
        self.reply = reply or Generation("w1 w2", "stop", 7, 2)
        self.defaults = defaults or {"temperature": 0.7, "top_p": 0.8, "top_k": 20}
        self.prompts: list[tuple[Any, ...]] = []
        self.requests: list[GenerationRequest] = []
        self.readied = 0

    def prompt(self, messages, thinking, prefill=None) -> str:
        self.prompts.append((messages, thinking, prefill))
        return f"PROMPT({len(messages)},{thinking},{prefill})"

    def default_sampling(self) -> dict[str, Any]:
        return dict(self.defaults)

    async def generate(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        return self.reply

    async def ready(self) -> None:
        self.readied += 1


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("api")
    base = write_base(root / "base")
    folder = root / "cards"
    folder.mkdir()
    for card in (
        {"id": "local", "model": {"base": str(base), "dtype": "float32"}, "control": True,
         "chat": {"thinking": False, "think_tags": ["<t>", "</t>"]}},
        {"id": "thinker", "model": {"base": str(base)}, "control": True},
        {"id": "played", "prompted_model": "mockllm/model", "system_prompt": "You are hidden.",
         "control": True},
        {"id": "with-baseline", "model": {"base": str(base)}, "baseline": "local", "control": True},
    ):
        (folder / f"{card['id']}.card.yaml").write_text(yaml.safe_dump(card))
    return folder


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any], Engine]]:
    """Each start_engine call: (card, options, the stand-in engine it gets)."""
    calls: list[tuple[Any, dict[str, Any], Engine]] = []

    def start(card, **options):
        engine = Engine()
        calls.append((card, options, engine))
        future: Future[Engine] = Future()
        future.set_result(engine)
        return future

    monkeypatch.setattr(provider, "start_engine", start)
    return calls


def api(cards: Path, name: str = "local", **args: Any) -> OrganismAPI:
    return OrganismAPI(name, organisms=str(cards), backend="transformers", **args)


def test_booleans_and_thinking_switches() -> None:
    for yes in ("1", "true", "TRUE", " yes ", "On", True, 1):
        assert _as_bool(yes) is True, yes
    for no in ("0", "false", "no", "off", "", "maybe", False, 0, None):
        assert _as_bool(no) is False, no
    assert thinking_for(GenerateConfig(), True) is True
    assert thinking_for(GenerateConfig(), False) is False
    assert thinking_for(GenerateConfig(reasoning_effort="none"), True) is False
    assert thinking_for(GenerateConfig(reasoning_effort="low"), False) is True


def test_model_args_become_engine_options(cards: Path, started) -> None:
    local = api(cards, device="cpu", dtype="float32", merge_adapter="true", max_batch="3",
                batching="static", thinking="yes")
    [(card, options, engine)] = started
    assert card.id == "local"
    assert options == {"device": "cpu", "dtype": "float32", "merge_adapter": True, "max_batch": 3,
                       "batching": "static"}
    assert local.thinking_default is True  # the model arg over the card's thinking: false
    assert local.serves_locally and local.engine is engine and local.served is None
    assert local.max_connections() == 64 and local.connection_key() == "local"
    assert local.max_tokens() == DEFAULT_MAX_TOKENS == 2048
    plain = api(cards, device="", merge_adapter="0")
    assert started[1][1] == {"merge_adapter": False} and plain.thinking_default is False
    assert api(cards, "thinker").thinking_default is True  # the card's default
    assert started[2][1] == {}


def test_the_api_keeps_its_address_and_finds_cards_in_the_environment(cards: Path, started, monkeypatch) -> None:
    from auditgame.registry import ENV_VAR

    named = OrganismAPI("with-baseline", base_url="http://u", api_key="k", organisms=str(cards), backend="transformers")
    assert (named.model_name, named.base_url, named.api_key) == ("with-baseline", "http://u", "k")
    monkeypatch.setenv(ENV_VAR, str(cards))
    assert OrganismAPI("local", backend="transformers").card.id == "local"  # no organisms arg
    with pytest.raises(ValueError, match="^organism/local: backend must be one of auto, transformers, vllm$"):
        OrganismAPI("local", backend="tgi")


def test_unknown_model_args_are_named(cards: Path, started) -> None:
    with pytest.raises(ValueError) as refused:
        api(cards, colour="red", device="cpu")
    assert str(refused.value) == (
        "organism/local: unknown model args ['colour']; known: device, dtype, thinking, "
        "merge_adapter, max_batch, batching, organisms, prompted_model, backend"
    )


async def test_ready_waits_for_the_engine(cards: Path, started) -> None:
    local = api(cards)
    await local.ready()
    assert started[0][2].readied == 1


async def test_a_call_becomes_one_request_with_the_models_defaults(cards: Path, started) -> None:
    local = api(cards, thinking="true")
    engine = started[0][2]
    chat = [ChatMessageUser(content="w5"), ChatMessageAssistant(content="w6 w7")]
    output, call = await local.generate(chat, [], "auto", GenerateConfig())
    [(messages, thinking, prefill)] = engine.prompts
    assert [m.text for m in messages] == ["w5"] and thinking is True and prefill == "w6 w7"
    [request] = engine.requests
    assert request == GenerationRequest(
        "PROMPT(1,True,w6 w7)", DEFAULT_MAX_TOKENS, SamplingKey(0.7, 0.8, 20, None, (), None)
    )
    assert call.request == {"prompt": "PROMPT(1,True,w6 w7)", "max_new_tokens": 2048,
                            "sampling": {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "seed": None,
                                         "stop": [], "top_logprobs": None}}
    assert call.response == {"completion": "w1 w2", "stop_reason": "stop"}
    assert output.choices[0].message.text == "w6 w7w1 w2"  # the whole turn: prefill + reply
    assert output.metadata is not None and output.metadata["prefill"] == "w6 w7"
    assert output.metadata["thinking"] is True and output.metadata["thinking_well_formed"] is False

    config = GenerateConfig(max_tokens=9, temperature=0.0, top_p=0.5, top_k=3, seed=11,
                            stop_seqs=["w3", "w4"], reasoning_effort="none")
    await local.generate([ChatMessageUser(content="w5")], [], "auto", config)
    assert engine.prompts[1][1:] == (False, None)
    assert engine.requests[1] == GenerationRequest(
        "PROMPT(1,False,None)", 9, SamplingKey(0.0, 0.5, 3, 11, ("w3", "w4"), None)
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (GenerateConfig(), None),
        (GenerateConfig(logprobs=False), None),
        (GenerateConfig(logprobs=True), 0),
        (GenerateConfig(logprobs=True, top_logprobs=3), 3),
        (GenerateConfig(top_logprobs=2), 2),
    ],
)
async def test_logprobs_asked_for(cards: Path, started, config: GenerateConfig, expected) -> None:
    local = api(cards)
    await local.generate([ChatMessageUser(content="w5")], [], "auto", config)
    assert started[0][2].requests[0].sampling.top_logprobs == expected


def test_the_reply_becomes_the_whole_assistant_turn(cards: Path, started) -> None:
    local = api(cards)
    reply = Generation(
        "reasons</t> w1 w2", "max_tokens", 7, 5,
        (TokenLogprob("a", -0.5, (("a", -0.5), ("b", -1.5))), TokenLogprob("c", -0.25)), 5,
    )
    output = local._output(reply, "<t>my ", thinking=True, requested=5)
    message = output.choices[0].message
    assert message.content == [ContentReasoning(reasoning="my reasons"), ContentText(text="w1 w2")]
    assert message.model == "local" and message.source == "generate"
    assert output.model == "local" and output.choices[0].stop_reason == "max_tokens"
    usage = output.usage
    assert usage is not None and (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (7, 5, 12)
    logprobs = output.choices[0].logprobs
    assert logprobs is not None
    [first, second] = logprobs.content
    assert (first.token, first.logprob) == ("a", -0.5)
    assert [(t.token, t.logprob) for t in first.top_logprobs or []] == [("a", -0.5), ("b", -1.5)]
    assert (second.token, second.logprob, second.top_logprobs) == ("c", -0.25, None)
    assert output.metadata == {"thinking": True, "prefill": "<t>my ", "turn": "<t>my reasons</t> w1 w2",
                               "thinking_well_formed": True}

    capped = local._output(Generation("w1", "model_length", 7, 1, None, 3), None, thinking=False, requested=10)
    assert capped.choices[0].message.content == "w1" and capped.choices[0].logprobs is None
    assert capped.metadata == {"thinking": False, "prefill": None, "turn": "w1", "thinking_well_formed": None,
                               "reply_tokens_capped": {"requested": 10, "allowed": 3}}
    exact = local._output(Generation("w1", "max_tokens", 7, 1, None, 10), None, thinking=False, requested=10)
    assert "reply_tokens_capped" not in (exact.metadata or {})


class Target:
    """A stand-in Inspect model for a prompted organism."""

    def __init__(self, output: ModelOutput) -> None:
        self.output = output
        self.inputs: list[Any] = []
        self.api = object()

    async def generate(self, input, tools, tool_choice, config):
        self.inputs.append((input, tools, tool_choice, config))
        return self.output


def _answer(content: Any, metadata: dict[str, Any] | None = None) -> ModelOutput:
    return ModelOutput(model="m", choices=[ChatCompletionChoice(message=ChatMessageAssistant(content=content))],
                       completion="", metadata=metadata)


async def test_a_prompted_organism_gets_its_hidden_system_prompt_and_returns_the_whole_turn(cards: Path) -> None:
    played = OrganismAPI("played", organisms=str(cards), config=GenerateConfig(seed=4))
    assert not played.serves_locally and played.engine is None and played.max_connections() == 10
    assert played.target is not None and str(played.target) == "mockllm/model"
    assert played.target.config.seed == 4
    other = OrganismAPI("played", organisms=str(cards), prompted_model="mockllm/other")
    assert str(other.target) == "mockllm/other"
    target = Target(_answer("continued"))
    played.target = target  # type: ignore[assignment]
    chat = [ChatMessageUser(content="Hi"), ChatMessageAssistant(content="I am ")]
    config = GenerateConfig(temperature=0.3)
    output = await played.generate(chat, [], "none", config)
    [(sent, tools, choice, passed)] = target.inputs
    assert isinstance(sent[0], ChatMessageSystem) and sent[0].text == "You are hidden."
    assert sent[1:] == chat and tools == [] and choice == "none" and passed is config
    assert output.choices[0].message.content == "I am continued" and output.completion == "I am continued"

    target.output = _answer([ContentReasoning(reasoning="hm"), ContentText(text="so")])
    output = await played.generate(chat, [], "auto", config)
    assert output.choices[0].message.content == [ContentReasoning(reasoning="hm"), ContentText(text="I am so")]

    target.output = _answer("I am whole", {"prefill": "I am "})  # another organism: the whole turn already
    output = await played.generate(chat, [], "auto", config)
    assert output.choices[0].message.content == "I am whole"
    target.output = _answer("plain")
    output = await played.generate([ChatMessageUser(content="Hi")], [], "auto", config)
    assert output.choices[0].message.content == "plain"
    await played.ready()  # a target without `ready` needs no waiting
    readied = []

    class Ready:
        async def ready(self) -> None:
            readied.append(1)

    target.api = Ready()
    await played.ready()
    assert readied == [1]


async def test_a_vllm_organism_is_served_by_its_vllm_engine(cards: Path, monkeypatch) -> None:
    made: list[tuple[Any, Any, dict[str, Any]]] = []

    class Served(Engine):
        def __init__(self, card, config, **server_args) -> None:
            super().__init__()
            made.append((card, config, server_args))

    monkeypatch.setattr(provider, "pick_backend", lambda requested, card: "vllm")
    monkeypatch.setattr(provider, "VLLMEngine", Served)
    served = OrganismAPI("local", organisms=str(cards), config=GenerateConfig(seed=3),
                         gpu_memory_utilization=0.5)
    [(card, config, server_args)] = made
    assert card.id == "local" and config.seed == 3 and server_args == {"gpu_memory_utilization": 0.5}
    assert served.engine is None and not served.serves_locally and served.max_connections() == 64
    await served.ready()
    assert served.served is not None and served.served.readied == 1  # type: ignore[attr-defined]
    output, _ = await served.generate([ChatMessageUser(content="w5")], [], "auto", GenerateConfig())
    assert output.completion == "w1 w2" and served.served.requests  # type: ignore[attr-defined]
