"""The local engine on a model of a few thousand weights built in the test: replies, scores and
log-probabilities against plain forward passes of the same weights (no cache, no batching, no
padding), the organism's adapter against peft's merged copy, context limits, sampling settings,
stop strings and the process's engine cache."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser
from tiny_weights import EOS, card_for, greedy, lora_adapter, tiny_lm, word_tokenizer, write_base

from auditgame.cards import CardError
from auditgame.organism import engine as engine_module
from auditgame.organism import pool as pool_module
from auditgame.organism.engine import (
    GenerationRequest,
    LocalEngine,
    PromptTooLong,
    SamplingKey,
    ScoreRequest,
    load_engine,
    pick_device,
    pick_dtype,
    start_engine,
)
from auditgame.organism.pool import EnginePool

CONTEXT = 40


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A base (model positions 64), a LoRA on it, and the card of an organism using both
    (context 40, a hidden system prompt and its own chat template file)."""
    root = tmp_path_factory.mktemp("engine")
    model = tiny_lm()
    base = write_base(root / "base", model)
    adapter = lora_adapter(model, root / "adapter")
    (root / "template.jinja").write_text(
        "{% if enable_thinking %}(t) {% endif %}{% for m in messages %}[{{ m.role }}] {{ m.content }} {% endfor %}"
        "{% if add_generation_prompt %}[go]{% endif %}"
    )
    card = card_for(
        root, "tiny-lora", base=str(base), adapter=str(adapter), max_context=CONTEXT,
        system_prompt="w9 w8", chat={"template": "template.jinja"},
    )
    from peft import PeftModel

    merged = PeftModel.from_pretrained(copy.deepcopy(model), str(adapter)).merge_and_unload().eval()
    return SimpleNamespace(root=root, model=model, merged=merged, base=base, adapter=adapter, card=card)


@pytest.fixture(scope="module")
def engine(parts: SimpleNamespace):
    engine = LocalEngine(parts.card, device="cpu", max_batch=4)
    yield engine
    engine.close()


def step_logprobs(model, ids: list[int]) -> torch.Tensor:
    """Log-probabilities of the next token after each prefix of ``ids``, from one forward."""
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].double().log_softmax(-1)


def words(ids: list[int]) -> str:
    return " ".join(f"w{i - 3}" for i in ids)


# ---------------------------------------------------------------- devices, dtypes, facts
def test_device_and_dtype_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pick_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == "cpu" and pick_device("") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device(None) == "cuda"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert pick_dtype("auto", "cuda:0") is torch.bfloat16
    assert pick_dtype("auto", "cpu") is torch.float32
    assert pick_dtype("float16", "cpu") is torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert pick_dtype("auto", "cuda") is torch.float32


def test_engine_facts_come_from_the_card_model_and_tokenizer(engine: LocalEngine, parts) -> None:
    assert engine.max_context == CONTEXT and engine.model_positions == 64
    assert engine.eos_token_ids == [EOS]
    assert engine.tokenizer.padding_side == "left"
    assert engine.tokenizer.pad_token == "<eos>"  # the tokenizer has none: its eos pads
    assert engine.dtype is torch.float32 and engine.device == "cpu"
    assert engine.adapter_key == pool_module.AdapterKey(str(parts.adapter), None)
    assert engine.base_key == pool_module.BaseKey(str(parts.base), None, "float32", "cpu", "continuous", None)
    assert engine.adapter == "adapter_1" and engine.input_device == torch.device("cpu")
    assert engine.model.config.vocab_size == 48
    # the first test on the module's engine: mutmut counts only it as reaching the constructor
    assert engine.chat_template is not None and engine.chat_template.startswith("{% if enable_thinking %}(t)")
    assert engine.chat_template == (parts.root / "template.jinja").read_text()
    assert engine._generation_config is engine.model.generation_config
    assert engine.max_batch == 4 and engine.pool.bases[engine.base_key].worker.max_batch == 4
    assert engine._resident() and engine.encode("w1") == [4]
    [scored] = engine.score_now([ScoreRequest([5], [6])])
    assert len(scored.continuation_logprobs) == 1


def test_a_short_model_bounds_the_context_and_eos_ids_merge(tmp_path: Path) -> None:
    model = tiny_lm(positions=24)
    model.generation_config.eos_token_id = [7, 5]
    card = card_for(tmp_path, base=str(write_base(tmp_path / "b", model)), max_context=100)
    engine = LocalEngine(card, device="cpu")
    assert engine.model_positions == 24 and engine.max_context == 24
    assert engine.eos_token_ids == [EOS, 5, 7]  # the model's list and the tokenizer's, sorted
    assert engine.adapter_key is None and engine.adapter is None
    engine.close()

    single = tiny_lm(positions=24)
    single.generation_config.eos_token_id = 9
    other = tmp_path / "other"
    other.mkdir()
    engine = LocalEngine(card_for(other, base=str(write_base(other / "b", single, eos=False))), device="cpu")
    assert engine.eos_token_ids == [9]  # no eos on the tokenizer
    engine.close()


def test_a_card_without_local_weights_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.card.yaml"
    path.write_text(yaml.safe_dump({"id": "p", "prompted_model": "mockllm/model", "system_prompt": "x",
                                    "control": True}))
    from auditgame.cards import load_card

    with pytest.raises(CardError, match=r"p.card.yaml: organism 'p' has no local 'model'"):
        LocalEngine(load_card(path))


def test_default_sampling_follows_the_generation_config(engine: LocalEngine, monkeypatch) -> None:
    assert engine.default_sampling() == {"temperature": 0.0, "top_p": None, "top_k": None}
    monkeypatch.setattr(engine, "_generation_config", SimpleNamespace(do_sample=True, temperature=0.6,
                                                                       top_p=0.9, top_k=20))
    assert engine.default_sampling() == {"temperature": 0.6, "top_p": 0.9, "top_k": 20}
    monkeypatch.setattr(engine, "_generation_config", SimpleNamespace(do_sample=True, temperature=None,
                                                                       top_p=None, top_k=None))
    assert engine.default_sampling() == {"temperature": 1.0, "top_p": None, "top_k": None}
    monkeypatch.setattr(engine, "_generation_config", SimpleNamespace())  # no do_sample: greedy
    assert engine.default_sampling() == {"temperature": 0.0, "top_p": None, "top_k": None}


def test_prompts_put_the_hidden_system_prompt_first_in_the_cards_template(engine: LocalEngine) -> None:
    chat = [ChatMessageUser(content="w1 w2")]
    assert engine.prompt(chat, thinking=True) == "(t) [system] w9 w8 [user] w1 w2 [go]"
    assert engine.prompt(chat, thinking=False, prefill="w3") == "[system] w9 w8 [user] w1 w2 [go]w3"
    chat.append(ChatMessageAssistant(content="w4"))
    assert engine.user_prompt(chat, thinking=False) == "[system] w9 w8 [user] w1 w2 [assistant] w4 [user] "
    assert engine.user_prompt(chat, thinking=True) == "(t) [system] w9 w8 [user] w1 w2 [assistant] w4 [user] "
    assert engine.encode("w0 w1 w44") == [3, 4, 47]


# ---------------------------------------------------------------- context limits
def test_the_reply_limit_is_the_room_left_and_a_full_prompt_is_refused(engine: LocalEngine) -> None:
    assert engine.fit(30, 5) == 5
    assert engine.fit(35, 5) == 5
    assert engine.fit(36, 5) == 4
    assert engine.fit(CONTEXT - 1, 5) == 1
    with pytest.raises(PromptTooLong) as refused:
        engine.fit(CONTEXT, 5)
    assert refused.value.tokens == CONTEXT and refused.value.max_context == CONTEXT
    text = str(refused.value)
    assert text == (
        f"organism 'tiny-lora' ({engine.card.card_path}): a prompt of 40 tokens does not fit its "
        "context of 40 tokens (card field 'model.max_context'; the model allows 64); shorten the input"
    )
    assert "tiny-lora" not in refused.value.public_message


def test_scored_texts_must_fit_and_have_context(engine: LocalEngine) -> None:
    with pytest.raises(ValueError, match="^a ScoreRequest needs at least one context token$"):
        engine.score_now([ScoreRequest(context=[])])
    with pytest.raises(PromptTooLong, match="a scored text of 41 tokens") as refused:
        engine.score_now([ScoreRequest(context=[3] * 30, continuation=[4] * 11)])
    assert refused.value.tokens == 41
    [fits] = engine.score_now([ScoreRequest(context=[3] * 30, continuation=[4] * 10)])
    assert len(fits.continuation_logprobs) == 10


# ---------------------------------------------------------------- generation
def test_greedy_replies_match_plain_forwards_with_and_without_the_adapter(engine: LocalEngine, parts) -> None:
    prompts = [[5, 6, 7], [8], [9, 10, 11, 12, 13]]
    requests = [GenerationRequest(words(p), 6 + i) for i, p in enumerate(prompts)]
    base = [GenerationRequest(words(p), 5, use_adapter=False) for p in prompts]
    replies = engine.generate_now([*requests, *base])
    for i, (prompt, reply) in enumerate(zip(prompts * 2, replies, strict=True)):
        model, count = (parts.merged, 6 + i) if i < 3 else (parts.model, 5)
        expected = greedy(model, prompt, count)
        assert reply.text == words(expected), i
        assert (reply.prompt_tokens, reply.completion_tokens) == (len(prompt), len(expected))
        assert reply.stop_reason == "max_tokens" and reply.max_new_tokens == count
        assert reply.logprobs is None
    assert replies[0].text != replies[3].text  # the adapter changes the reply
    assert engine.stats.decode_rows and max(engine.stats.decode_rows) >= 2


def test_a_reply_cut_by_the_context_says_model_length(engine: LocalEngine, parts) -> None:
    prompt = [5 + i % 30 for i in range(CONTEXT - 3)]
    [reply] = engine.generate_now([GenerationRequest(words(prompt), 10)])
    assert reply.max_new_tokens == 3 and reply.completion_tokens == 3
    assert reply.stop_reason == "model_length"
    assert reply.text == words(greedy(parts.merged, prompt, 3))
    [asked] = engine.generate_now([GenerationRequest(words(prompt), 3)])  # asked for exactly the room
    assert asked.stop_reason == "max_tokens" and asked.max_new_tokens == 3


def test_eos_and_stop_strings_end_a_reply(engine: LocalEngine, parts, monkeypatch) -> None:
    prompt = [5, 6, 7]
    free = greedy(parts.merged, prompt, 8)
    stop = words([free[3]])
    shown = next(k for k in range(1, 9) if stop in words(free[:k]))  # tokens until the text shows it
    [stopped] = engine.generate_now([GenerationRequest(words(prompt), 8, SamplingKey(stop=("w47", stop)))])
    text = words(free[:shown])
    assert stopped.text == text[: text.index(stop)]
    assert stopped.stop_reason == "stop" and stopped.completion_tokens == shown
    monkeypatch.setattr(engine, "eos_token_ids", [EOS, free[2]])
    [ended] = engine.generate_now([GenerationRequest(words(prompt), 8)])
    cut = free.index(free[2])
    assert ended.text == words(free[:cut]) and ended.stop_reason == "stop"
    assert ended.completion_tokens == cut


def test_logprobs_are_the_models_next_token_distribution(engine: LocalEngine, parts) -> None:
    prompt = [5, 6, 7]
    top2, chosen, none = engine.generate_now([
        GenerationRequest(words(prompt), 5, SamplingKey(top_logprobs=2)),
        GenerationRequest(words(prompt), 4, SamplingKey(top_logprobs=0)),
        GenerationRequest(words(prompt), 4),
    ])
    tokens = greedy(parts.merged, prompt, 5)
    reference = step_logprobs(parts.merged, prompt + tokens)[len(prompt) - 1:]
    assert top2.logprobs is not None and len(top2.logprobs) == 5
    for n, (token, lp) in enumerate(zip(tokens, top2.logprobs, strict=True)):
        assert lp.token == words([token])
        assert lp.logprob == pytest.approx(float(reference[n, token]), abs=1e-4)
        values, ids = reference[n].topk(2)
        assert [t for t, _ in lp.top] == [words([i]) for i in ids.tolist()]
        assert [v for _, v in lp.top] == pytest.approx(values.tolist(), abs=1e-4)
    assert chosen.logprobs is not None and len(chosen.logprobs) == 4
    assert all(lp.top == () for lp in chosen.logprobs)
    assert [lp.logprob for lp in chosen.logprobs] == pytest.approx([lp.logprob for lp in top2.logprobs[:4]])
    assert none.logprobs is None


def test_a_sampled_request_draws_its_seed_when_made(engine: LocalEngine) -> None:
    sampled = GenerationRequest("w1 w2", 5, SamplingKey(temperature=0.8, top_p=0.9, top_k=7, stop=("w3",)))
    torch.manual_seed(3)
    job = engine._job(sampled)
    torch.manual_seed(3)
    assert engine._job(sampled).drawn_seed == job.drawn_seed
    assert job.drawn_seed is not None and 0 <= job.drawn_seed < 2**62
    assert engine._job(sampled).drawn_seed != job.drawn_seed
    assert job.sampling == engine_module.Sampling(0.8, 0.9, 7, None, None)
    assert job.eos == frozenset({EOS}) and job.prompt == [4, 5] and job.max_new_tokens == 5
    assert job.stopped is not None and job.stopped([4, 6]) and not job.stopped([4, 5])
    assert engine._job(GenerationRequest("w1", 5, SamplingKey(temperature=0.8, seed=4))).drawn_seed is None
    greedy_job = engine._job(GenerationRequest("w1", 5, SamplingKey(top_logprobs=3)))
    assert greedy_job.drawn_seed is None and greedy_job.stopped is None
    assert greedy_job.sampling == engine_module.Sampling(0.0, None, None, None, 3)


def test_a_stop_string_is_seen_across_token_boundaries_in_a_recent_window(engine: LocalEngine) -> None:
    stopped = engine._stop_check(("w1 w2",))
    assert stopped is not None
    assert stopped([9, 4, 5]) and not stopped([4, 9, 5])
    long_ago = engine._stop_check(("w1",))
    assert long_ago is not None and not long_ago([4] + [6] * 12) and long_ago([6] * 12 + [4])


def test_seeded_sampling_repeats_and_differs_by_seed(engine: LocalEngine) -> None:
    def sampled(seed: int) -> GenerationRequest:
        return GenerationRequest("w1 w2", 12, SamplingKey(temperature=1.5, seed=seed))

    a, b, c = engine.generate_now([sampled(1), sampled(1), sampled(2)])
    assert a.text == b.text != c.text


async def test_async_generation_and_scoring_match_the_synchronous_calls(engine: LocalEngine, parts) -> None:
    await engine.ready()
    reply = await engine.generate(GenerationRequest("w2 w3 w4", 5))
    assert reply.text == words(greedy(parts.merged, [5, 6, 7], 5))
    base = await engine.generate(GenerationRequest("w2 w3 w4", 5, use_adapter=False))
    assert base.text == words(greedy(parts.model, [5, 6, 7], 5))
    scored = await engine.score(ScoreRequest([5, 6], [7], use_adapter=False))
    expected = step_logprobs(parts.model, [5, 6, 7])
    assert scored.continuation_logprobs == pytest.approx([float(expected[1, 7])], abs=1e-4)
    scored = await engine.score(ScoreRequest([5, 6], [7]))
    expected = step_logprobs(parts.merged, [5, 6, 7])
    assert scored.continuation_logprobs == pytest.approx([float(expected[1, 7])], abs=1e-4)
    with torch.no_grad():
        organism_logit = float(parts.merged(input_ids=torch.tensor([[5]])).logits[0, 0, 3])
        base_logit = float(parts.model(input_ids=torch.tensor([[5]])).logits[0, 0, 3])
    assert await engine.run(lambda m: m(input_ids=torch.tensor([[5]])).logits[0, 0, 3].item()) == pytest.approx(
        organism_logit, abs=1e-4)
    plain = await engine.run(lambda m: m(input_ids=torch.tensor([[5]])).logits[0, 0, 3].item(), adapter=False)
    assert plain == pytest.approx(base_logit, abs=1e-4)


# ---------------------------------------------------------------- scoring
def test_scores_in_one_padded_batch_equal_plain_forwards(engine: LocalEngine, parts) -> None:
    requests = [
        ScoreRequest([5, 6, 7], [8, 9], candidates=[10, 3], top_k=3),
        ScoreRequest([11], [12, 13, 14, 15], use_adapter=False),
        ScoreRequest([20, 21, 22, 23, 24, 25], candidates=[30]),
    ]
    results = engine.score_now(requests)
    for request, result in zip(requests, results, strict=True):
        model = parts.merged if request.use_adapter else parts.model
        ids = list(request.context) + list(request.continuation)
        reference = step_logprobs(model, ids)
        start = len(request.context)
        expected = [float(reference[start - 1 + n, t]) for n, t in enumerate(request.continuation)]
        assert result.continuation_logprobs == pytest.approx(expected, abs=1e-4)
        last = reference[len(ids) - 1]
        assert result.candidate_logprobs == pytest.approx([float(last[c]) for c in request.candidates], abs=1e-4)
        values, indices = last.topk(request.top_k) if request.top_k else (torch.zeros(0), torch.zeros(0))
        assert [i for i, _ in result.top] == indices.tolist()
        assert [v for _, v in result.top] == pytest.approx(values.tolist(), abs=1e-4)
    assert results[1].candidate_logprobs == () and results[2].continuation_logprobs == ()


def test_forward_scope_is_the_organism_or_the_base(engine: LocalEngine, parts) -> None:
    ids = torch.tensor([[5, 6, 7]])
    with engine.forward_scope() as model, torch.no_grad():
        organism = model(input_ids=ids).logits
    with engine.forward_scope(adapter=False) as model, torch.no_grad():
        base = model(input_ids=ids).logits
    with torch.no_grad():
        assert torch.allclose(organism, parts.merged(input_ids=ids).logits, atol=1e-4)
        assert torch.allclose(base, parts.model(input_ids=ids).logits, atol=1e-5)
    replies = engine.generate_here([GenerationRequest("w2 w3 w4", 4)], adapter=False)
    assert replies[0].text == words(greedy(parts.model, [5, 6, 7], 4))
    [organism_reply, other] = engine.generate_here([GenerationRequest("w2 w3 w4", 4), GenerationRequest("w9", 3)])
    assert organism_reply.text == words(greedy(parts.merged, [5, 6, 7], 4))
    assert other.text == words(greedy(parts.merged, [12], 3))


# ---------------------------------------------------------------- merged copies, loading
def test_a_merged_organism_has_no_separate_base(parts, tmp_path: Path) -> None:
    engine = LocalEngine(parts.card, device="cpu", merge_adapter=True)
    assert engine.adapter_key is None and engine.adapter is None
    assert engine.base_key.merged == (str(parts.adapter), None)
    [reply] = engine.generate_now([GenerationRequest("w2 w3 w4", 5)])
    assert reply.text == words(greedy(parts.merged, [5, 6, 7], 5))
    with pytest.raises(ValueError, match="organism 'tiny-lora' is served merged: it has no separate base"):
        engine.generate_now([GenerationRequest("w2", 2, use_adapter=False)])
    with pytest.raises(ValueError, match="served merged"):
        engine.score_now([ScoreRequest([5], use_adapter=False)])
    engine.close()
    assert engine.pool.bases == {}


def test_close_frees_a_private_base_only(parts) -> None:
    shared = EnginePool()
    engine = LocalEngine(parts.card, device="cpu", pool=shared)
    [base] = shared.bases.values()
    engine.close()
    assert shared.bases and base.model is not None  # shared: stays for other organisms
    base.close()
    private = LocalEngine(parts.card, device="cpu")
    [own] = private.pool.bases.values()
    private.close()
    assert private.pool.bases == {} and own.model is None


def test_weights_on_disk_are_the_safetensors_else_the_bin_files(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"x" * 7)
    card = card_for(tmp_path, base=str(folder))
    assert engine_module._weights_on_disk(card) == 7
    (folder / "a.safetensors").write_bytes(b"x" * 5)
    (folder / "b.safetensors").write_bytes(b"x" * 3)
    assert engine_module._weights_on_disk(card) == 8
    hub = tmp_path / "hub"
    hub.mkdir()
    assert engine_module._weights_on_disk(card_for(hub, base="someone/some-model")) == 0


def test_the_process_loads_each_engine_once_and_retries_a_failed_start(parts, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(engine_module, "_engines", {})
    monkeypatch.setattr(engine_module, "_starting", {})
    pool = EnginePool()
    monkeypatch.setattr(engine_module, "shared_pool", lambda: pool)
    first = load_engine(parts.card, device="cpu")
    assert load_engine(parts.card, device="cpu") is first
    assert start_engine(parts.card, device="cpu").result() is first
    other = load_engine(parts.card, device="cpu", max_batch=2)
    assert other is not first and other.max_batch == 2
    assert first.pool is pool and len(pool.bases) == 1  # both on one shared base

    missing = card_for(tmp_path, "later", base=str(tmp_path / "later-base"))
    failed = start_engine(missing, device="cpu")
    assert isinstance(failed.exception(timeout=30), CardError)
    write_base(tmp_path / "later-base")
    retried = start_engine(missing, device="cpu")
    assert retried is not failed
    assert retried.result(timeout=30).card.id == "later"
    for base in list(pool.bases.values()):
        base.close()


def test_a_request_skips_the_loading_thread_only_when_its_base_and_adapter_are_resident(engine: LocalEngine) -> None:
    assert engine._resident()
    base = engine.pool.bases.pop(engine.base_key)
    try:
        assert not engine._resident()
    finally:
        engine.pool.bases[engine.base_key] = base
    assert engine.adapter_key is not None
    resident = base.adapters.pop(engine.adapter_key)
    try:
        assert not engine._resident()
    finally:
        base.adapters[engine.adapter_key] = resident
    assert engine._resident()


def test_engines_are_keyed_by_card_file_and_options_and_started_once(parts, tmp_path: Path, monkeypatch) -> None:
    import threading

    monkeypatch.setattr(engine_module, "_engines", {})
    monkeypatch.setattr(engine_module, "_starting", {})
    pool = EnginePool()
    monkeypatch.setattr(engine_module, "shared_pool", lambda: pool)
    made: list[str] = []

    class Counted(LocalEngine):
        def __init__(self, card, **options) -> None:
            made.append(card.id)
            super().__init__(card, **options)

    monkeypatch.setattr(engine_module, "LocalEngine", Counted)
    twin_folder = tmp_path / "twin"
    twin_folder.mkdir()
    twin = card_for(twin_folder, "tiny-lora", base=str(parts.base), max_context=CONTEXT)  # same id, other file
    first = load_engine(parts.card, device="cpu")
    assert load_engine(parts.card, device="cpu") is first and made == ["tiny-lora"]
    assert load_engine(twin, device="cpu") is not first and len(made) == 2

    gate = threading.Event()
    real = engine_module.load_engine

    def slow(card, **options):
        gate.wait(30)
        return real(card, **options)

    monkeypatch.setattr(engine_module, "load_engine", slow)
    one = start_engine(parts.card, device="cpu", max_batch=2)
    two = start_engine(parts.card, device="cpu", max_batch=2)
    assert one is two and not one.done()  # started once, still loading
    gate.set()
    assert one.result(timeout=30).max_batch == 2
    for shared in list(pool.bases.values()):
        shared.close()


def test_off_the_cpu_logsumexp_is_one_call_over_the_last_dimension() -> None:
    on_meta = engine_module._logsumexp_by_rows(torch.empty(3, 7, device="meta"))
    assert on_meta.device.type == "meta" and on_meta.shape == (3,)
    rows = torch.randn(9, 11, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(engine_module._logsumexp_by_rows(rows), rows.logsumexp(-1), atol=1e-6)


def test_an_unreadable_adapter_names_its_card_field(parts, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(parts.adapter / "adapter_config.json", broken)  # no weights
    card = card_for(tmp_path, "broken", base=str(parts.base), adapter=str(broken))
    with pytest.raises(CardError, match=rf"broken.card.yaml.*: field 'model.adapter': cannot load {broken} \("):
        engine_module.read_adapter(card)
    files = engine_module.read_adapter(parts.card)
    assert files.config.r == 2 and files.weights
    assert all(t.device.type == "cpu" for t in files.weights.values())


def test_a_tokenizer_that_does_not_load_names_the_field_it_came_from(parts, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ({"base": str(parts.base), "tokenizer": str(empty)}, "model.tokenizer"),
        ({"base": str(empty)}, "model.base"),
        ({"base": str(parts.base), "weights": str(empty)}, "model.weights"),
    ]
    for n, (model, field) in enumerate(cases):
        card = card_for(tmp_path, f"case-{n}", **model)
        with pytest.raises(CardError, match=rf"case-{n}.card.yaml.*: field '{field}': cannot load {empty} \("):
            engine_module.load_tokenizer(card)
    words_only = tmp_path / "words"
    word_tokenizer().save_pretrained(words_only)
    model_only = tmp_path / "model-only"
    tiny_lm().save_pretrained(model_only)
    card = card_for(tmp_path, "split", base=str(model_only), tokenizer=str(words_only))
    assert engine_module.load_tokenizer(card).encode("w1 w2", add_special_tokens=False) == [4, 5]


def test_weights_load_in_the_asked_dtype_and_a_broken_checkpoint_names_its_field(parts, tmp_path: Path) -> None:
    model, device = engine_module.load_model(parts.card, "cpu", torch.bfloat16, merge_adapter=False)
    assert next(model.parameters()).dtype is torch.bfloat16 and device == torch.device("cpu")
    assert not model.training
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((parts.base / "config.json").read_text())
    (broken / "model.safetensors").write_bytes(b"not a checkpoint")
    card = card_for(tmp_path, "broken", base=str(broken))
    with pytest.raises(CardError, match=rf"broken.card.yaml.*: field 'model.base': cannot load {broken} \("):
        engine_module.load_model(card, "cpu", torch.float32, merge_adapter=False)


def test_a_stop_string_that_opens_the_reply_leaves_it_empty(engine: LocalEngine, parts) -> None:
    first = words(greedy(parts.merged, [5, 6, 7], 1))
    [reply] = engine.generate_now([GenerationRequest("w2 w3 w4", 6, SamplingKey(stop=(first,)))])
    assert reply.text == "" and reply.stop_reason == "stop" and reply.completion_tokens == 1
