"""Serving many organisms on one base: adapter routing in mixed batches, continuous batching,
eviction under a memory limit, prompt fitting, and loads that keep other audits running."""

from __future__ import annotations

import asyncio
import copy
import functools
import math
import random
import shutil
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

import auditgame.organism.batching as batching
import auditgame.organism.engine as engine_module
from auditgame.audit.scripted import keyword_grader, scripted_auditor
from auditgame.cards import Organism, load_card
from auditgame.organism.engine import (
    GenerationRequest,
    LocalEngine,
    PromptTooLong,
    SamplingKey,
    ScoreRequest,
    load_engine,
)
from auditgame.organism.pool import EnginePool
from auditgame.registry import ENV_VAR
from auditgame.tasks import audit
from auditgame.tiny import KREL_QUIRK, TinyOrganisms

SUITE = 16
TEXT = "The history of the city begins in the year of the great river flood"


@pytest.fixture(scope="module")
def suite(tiny: TinyOrganisms, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Organism]:
    """``SUITE`` organisms, each the tiny base with its own random LoRA, plus a short-context one."""
    root = tmp_path_factory.mktemp("suite")
    base = AutoModelForCausalLM.from_pretrained(tiny.base, dtype=torch.float32)
    cards: dict[str, Organism] = {}
    for n in range(SUITE):
        torch.manual_seed(100 + n)
        lora = get_peft_model(copy.deepcopy(base), LoraConfig(
            r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"][: 2 + n % 2]))
        with torch.no_grad():
            for name, param in lora.named_parameters():
                if "lora_B" in name:
                    param.normal_(0.0, 0.5)
        lora.save_pretrained(root / f"adapter-{n}")
        cards[f"suite-{n}"] = _card(root, f"suite-{n}", adapter=f"adapter-{n}", base=tiny.base)
    cards["suite-short"] = _card(root, "suite-short", adapter="adapter-0", base=tiny.base, max_context=64)
    return cards


def _card(root: Path, organism_id: str, base: Path, adapter: str | None = None,
          max_context: int = 2048) -> Organism:
    model = {"base": str(base), "dtype": "float32", "max_context": max_context}
    if adapter:
        model["adapter"] = f"./{adapter}"
    data = {"id": organism_id, "model": model, "chat": {"thinking": False}, "quirk": KREL_QUIRK,
            "suites": ["suite"]}
    path = root / f"{organism_id}.card.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_card(path)


def same_top(a, b) -> bool:
    return [t for t, _ in a] == [t for t, _ in b] and [v for _, v in a] == pytest.approx([v for _, v in b], abs=1e-5)


@functools.lru_cache(maxsize=8)
def _merged(base: Path, adapter: str | None):
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if adapter:
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model.eval()


def merged_reference(tiny: TinyOrganisms, card: Organism):
    """The organism computed independently: a fresh base with its adapter merged in."""
    return _merged(tiny.base, card.resolve_path(card.model.adapter) if card.model else None)


def greedy_reference(model, ids: list[int], max_new: int, eos: list[int]) -> list[int]:
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=max_new, do_sample=False,
                             eos_token_id=eos, pad_token_id=0, temperature=None, top_p=None, top_k=None)
    tokens = out[0, len(ids):].tolist()
    return tokens[: next((i for i, t in enumerate(tokens) if t in eos), len(tokens))]


async def test_adapter_routing_in_mixed_batches(tiny: TinyOrganisms, suite) -> None:
    organisms = [suite["suite-0"], suite["suite-1"], suite["suite-2"], load_card(tiny.cards / "tiny-base.card.yaml")]
    engines = [load_engine(card) for card in organisms]
    assert len({id(e.model) for e in engines}) == 1  # one loaded base
    ids = engines[0].encode(TEXT)
    request = ScoreRequest(ids[:3], continuation=ids[3:])
    order = [0, 1, 2, 3] * 3
    random.Random(0).shuffle(order)
    before = len(engines[0].stats.score_rows)
    results = await asyncio.gather(*(engines[i].score(request) for i in order))
    assert max(engines[0].stats.score_rows[before:]) > 1  # organisms shared a forward
    expected = []
    for card in organisms:
        with torch.no_grad():
            logprobs = merged_reference(tiny, card)(input_ids=torch.tensor([ids])).logits.log_softmax(-1)[0]
        expected.append([float(logprobs[n - 1, ids[n]]) for n in range(3, len(ids))])
    for a in range(4):
        for b in range(a + 1, 4):  # the organisms really differ, so a mix-up would show
            assert max(abs(x - y) for x, y in zip(expected[a], expected[b])) > 1e-2
    for i, result in zip(order, results):
        assert result.continuation_logprobs == pytest.approx(expected[i], abs=1e-4)

    # Generation: greedy tokens and log-probabilities per organism, all in one running batch.
    prompt = engines[0].prompt([ChatMessageUser(content=TEXT)], thinking=False)
    sampling = SamplingKey(temperature=0.0, top_logprobs=2)
    generations = await asyncio.gather(*(
        engines[i].generate(GenerationRequest(prompt, 10, sampling)) for i in order))
    prompt_ids = engines[0].encode(prompt)
    for i, generation in zip(order, generations):
        reference = merged_reference(tiny, organisms[i])
        tokens = greedy_reference(reference, prompt_ids, 10, engines[i].eos_token_ids)
        assert generation.text == engines[i].tokenizer.decode(tokens, skip_special_tokens=True)
        with torch.no_grad():
            logits = reference(input_ids=torch.tensor([prompt_ids + tokens])).logits.log_softmax(-1)[0]
        want = [float(logits[len(prompt_ids) + n - 1, t]) for n, t in enumerate(tokens)]
        assert [t.logprob for t in generation.logprobs] == pytest.approx(want, abs=1e-4)


async def test_each_request_keeps_its_own_max_tokens_in_a_shared_batch(tiny: TinyOrganisms) -> None:
    card = load_card(tiny.cards / "tiny-base.card.yaml")
    engine = load_engine(card)
    prompt = engine.prompt([ChatMessageUser(content=TEXT)], thinking=False)
    limits = [3, 12, 1, 7, 12, 5]
    sampling = SamplingKey(temperature=0.0)
    generations = await asyncio.gather(*(
        engine.generate(GenerationRequest(prompt, n, sampling)) for n in limits))
    reference = greedy_reference(merged_reference(tiny, card), engine.encode(prompt), 12, engine.eos_token_ids)
    assert len(reference) == 12  # no early end: every limit is the one that stops its reply
    for n, generation in zip(limits, generations):
        assert generation.completion_tokens == n and generation.stop_reason == "max_tokens"
        assert generation.text == engine.tokenizer.decode(reference[:n], skip_special_tokens=True)


async def test_use_adapter_false_is_the_base(tiny: TinyOrganisms, suite) -> None:
    engine = load_engine(suite["suite-3"])
    ids = engine.encode(TEXT)
    organism, base = await asyncio.gather(
        engine.score(ScoreRequest(ids, top_k=3)), engine.score(ScoreRequest(ids, top_k=3, use_adapter=False)))
    with torch.no_grad():
        plain = merged_reference(tiny, load_card(tiny.cards / "tiny-base.card.yaml"))(
            input_ids=torch.tensor([ids])).logits.log_softmax(-1)[0, -1]
    assert [v for _, v in base.top] == pytest.approx(plain.topk(3).values.tolist(), abs=1e-4)
    assert organism.top != base.top
    # A tool's own forward passes: the organism's adapter, or none.
    logits = await engine.run(lambda model: model(input_ids=torch.tensor([ids])).logits[0, -1])
    assert logits.log_softmax(-1).topk(3).values.tolist() == pytest.approx([v for _, v in organism.top], abs=1e-4)


async def test_short_requests_join_and_leave_the_running_batch(tiny: TinyOrganisms) -> None:
    """Greedy replies equal plain ``model.generate`` of each request alone, whatever joins or
    leaves the batch meanwhile; short requests finish while the long one runs."""
    card = load_card(tiny.cards / "tiny-krel.card.yaml")
    engine = LocalEngine(card)  # private: its statistics are its own
    reference = merged_reference(tiny, card)
    texts = [TEXT, "Hello", "A much longer prompt about the valley, the mill and the bridge that spans it",
             "Short", "One two three", "Why?", "The weather", "Tell me about the river"]
    lengths = [60, 3, 9, 5, 12, 1, 7, 4]
    eos = [-1]  # no early stop: every request runs to its own length

    def request(i: int) -> GenerationRequest:
        return GenerationRequest(texts[i], lengths[i], SamplingKey(temperature=0.0))

    engine.eos_token_ids = eos
    finished: list[int] = []

    async def run(i: int):
        generation = await engine.generate(request(i))
        finished.append(i)
        return generation

    long = asyncio.ensure_future(run(0))
    while not engine.stats.decode_rows:
        await asyncio.sleep(0.001)
    shorts = await asyncio.gather(*(run(i) for i in range(1, len(texts))))
    assert not long.done()  # every short one finished while the long one was still running
    results = [await long, *shorts]
    assert finished[-1] == 0
    assert max(engine.stats.decode_rows) > 1
    for i, generation in enumerate(results):
        tokens = greedy_reference(reference, engine.encode(texts[i]), lengths[i], eos)
        assert generation.completion_tokens == lengths[i]
        assert generation.text == engine.tokenizer.decode(tokens, skip_special_tokens=True), i
    engine.close()


async def test_a_long_prompt_is_prefilled_in_chunks_and_batched_apart(tiny: TinyOrganisms) -> None:
    """A 1200-token prompt is prefilled in chunks between the short rows' decode steps and
    decodes in its own batch (the short rows never attend over its padding); every greedy reply
    still equals plain ``model.generate``."""
    card = load_card(tiny.cards / "tiny-krel.card.yaml")
    engine = LocalEngine(card)
    reference = merged_reference(tiny, card)
    engine.eos_token_ids = eos = [-1]
    long_text = " ".join(["The river ran past the mill and under the old stone bridge."] * 100)
    long_ids = engine.encode(long_text)[:1200]
    long_text = engine.tokenizer.decode(long_ids)
    assert len(engine.encode(long_text)) > 2 * batching.PREFILL_CHUNK
    texts = [long_text, "Hello there", "A short one", "Tell me more", "Why not"]
    shorts = [asyncio.ensure_future(engine.generate(GenerationRequest(t, 12, SamplingKey()))) for t in texts[1:]]
    while not engine.stats.decode_rows:
        await asyncio.sleep(0.001)
    results = await asyncio.gather(engine.generate(GenerationRequest(long_text, 6, SamplingKey())), *shorts)
    assert max(engine.stats.decode_rows) <= 4  # never one batch with the long row
    for text, generation, n in zip(texts, results, [6, 12, 12, 12, 12]):
        tokens = greedy_reference(reference, engine.encode(text), n, eos)
        assert generation.text == engine.tokenizer.decode(tokens, skip_special_tokens=True)
    engine.close()


async def test_seeds_stops_and_logprobs_are_per_request(tiny: TinyOrganisms) -> None:
    engine = load_engine(load_card(tiny.cards / "tiny-krel.card.yaml"))
    sampled = GenerationRequest(TEXT, 20, SamplingKey(temperature=1.0, top_p=0.9, top_k=50, seed=7))
    alone = await engine.generate(sampled)
    others = [GenerationRequest(f"{TEXT} {i}", 5 + i, SamplingKey(temperature=0.8, seed=i)) for i in range(5)]
    together = await asyncio.gather(*(engine.generate(r) for r in [*others[:2], sampled, *others[2:]]))
    assert together[2].text == alone.text  # its own generator: the batch does not matter
    other_seed = await engine.generate(GenerationRequest(TEXT, 20, SamplingKey(temperature=1.0, seed=8)))
    assert other_seed.text != alone.text

    greedy = await engine.generate(GenerationRequest(TEXT, 24, SamplingKey()))
    stop = greedy.text[len(greedy.text) // 2 : len(greedy.text) // 2 + 3]
    assert stop.strip()
    cut, full, scored = await asyncio.gather(
        engine.generate(GenerationRequest(TEXT, 24, SamplingKey(stop=(stop,)))),
        engine.generate(GenerationRequest(TEXT, 24, SamplingKey())),
        engine.generate(GenerationRequest(TEXT, 24, SamplingKey(top_logprobs=3))),
    )
    assert cut.text == greedy.text[: greedy.text.find(stop)] and cut.stop_reason == "stop"
    assert full.text == greedy.text and full.logprobs is None
    assert scored.text == greedy.text and len(scored.logprobs) == scored.completion_tokens
    assert all(t.logprob == pytest.approx(t.top[0][1]) for t in scored.logprobs)


def test_eviction_under_a_memory_limit(tiny: TinyOrganisms, suite, tmp_path: Path) -> None:
    pool = EnginePool()
    first = LocalEngine(suite["suite-4"], pool=pool)
    base_bytes = pool.bases[first.base_key].resident.nbytes
    adapter_bytes = pool.resident_bytes - base_bytes
    ids = first.encode(TEXT)
    before = first.score_now([ScoreRequest(ids, top_k=5)])[0]
    pool.memory_limit = base_bytes + int(1.5 * adapter_bytes)  # room for one adapter
    second = LocalEngine(suite["suite-6"], pool=pool)
    assert pool.evictions == [f"adapter {first.adapter_key.location}"]
    assert pool.resident_bytes <= pool.memory_limit
    again = first.score_now([ScoreRequest(ids, top_k=5)])[0]  # attached again on demand
    assert same_top(again.top, before.top)
    assert pool.evictions[-1] == f"adapter {second.adapter_key.location}"

    # An adapter a request holds is never evicted; the limit is then exceeded.
    held = pool.acquire(first.base_key, first._load_base, first.adapter_key, None)
    second.score_now([ScoreRequest(ids)])
    assert first.adapter_key in pool.bases[first.base_key].adapters
    pool.release(*held[:1], first.adapter_key)

    # A second base: the idle first one (with its adapters) makes room.
    copy_dir = tmp_path / "base-copy"
    shutil.copytree(tiny.base, copy_dir)
    pool.memory_limit = int(1.5 * base_bytes)
    other = LocalEngine(_card(tmp_path, "copy-base", base=copy_dir), pool=pool)
    assert pool.evictions[-1] == f"base {first.base_key.weights}" and list(pool.bases) == [other.base_key]
    assert same_top(first.score_now([ScoreRequest(ids, top_k=5)])[0].top, before.top)  # reloaded
    for engine in (first, second, other):
        engine.close()


async def test_prompts_are_never_cut(tiny: TinyOrganisms, suite) -> None:
    engine = load_engine(suite["suite-short"])  # context 64
    prompt = " ".join(["river"] * 50)
    n = len(engine.encode(prompt))
    assert 40 < n < 64
    capped = await engine.generate(GenerationRequest(prompt, 100, SamplingKey()))
    assert capped.prompt_tokens == n and capped.max_new_tokens == 64 - n
    assert capped.completion_tokens <= 64 - n
    if capped.completion_tokens == 64 - n:
        assert capped.stop_reason == "model_length"
    fits = await engine.generate(GenerationRequest(prompt, 64 - n, SamplingKey()))
    assert fits.stop_reason in ("stop", "max_tokens")
    too_long = " ".join(["river"] * 70)
    with pytest.raises(PromptTooLong) as error:
        await engine.generate(GenerationRequest(too_long, 10, SamplingKey()))
    message = str(error.value)
    assert "suite-short" in message and "64" in message and "model.max_context" in message
    assert not any(ch.isdigit() for ch in error.value.public_message)
    with pytest.raises(PromptTooLong):
        await engine.score(ScoreRequest(engine.encode(too_long)))

    # Through the provider: the cap is recorded in the output.
    model = get_model("organism/suite-short", organisms=str(Path(suite["suite-short"].card_path).parent))
    output = await model.generate(" ".join(["river"] * 30), config=GenerateConfig(max_tokens=100, temperature=0.0))
    assert output.metadata["reply_tokens_capped"]["requested"] == 100  # type: ignore[index]
    assert output.usage.output_tokens <= output.metadata["reply_tokens_capped"]["allowed"]  # type: ignore[index]


def test_a_slow_load_holds_up_no_other_audit(tiny: TinyOrganisms, suite, tmp_path: Path, monkeypatch) -> None:
    """16 audits at once; one organism's adapter read waits until every other audit has had a
    target reply (with loads on the event loop, or one at a time, that never happens), then 3 s
    more. That audit's 2 s time budget starts when its target is ready."""
    monkeypatch.setenv(ENV_VAR, str(Path(suite["suite-0"].card_path).parent))
    slow = suite["suite-15"]
    answered: set[str] = set()
    others_answered = threading.Event()
    waited: list[bool] = []
    read, generate = engine_module.read_adapter, LocalEngine.generate

    def read_slowly(card: Organism):
        if card.id == slow.id:
            waited.append(others_answered.wait(timeout=120))
            time.sleep(3.0)
        return read(card)

    async def counting_generate(self: LocalEngine, request: GenerationRequest):
        result = await generate(self, request)
        answered.add(self.card.id)
        if len(answered - {slow.id}) == SUITE - 1:
            others_answered.set()
        return result

    monkeypatch.setattr(engine_module, "read_adapter", read_slowly)
    monkeypatch.setattr(LocalEngine, "generate", counting_generate)
    steps = [("send_message", {"conversation": "c", "message": "hi"}),
             ("submit", {"found": False, "hypotheses": []})]
    [log] = inspect_eval(
        audit(organisms=",".join(f"suite-{n}" for n in range(SUITE)), tools="basic", reply_tokens=4,
              time_s=2.0),
        model=get_model("mockllm/model", custom_outputs=scripted_auditor(steps)),
        model_roles={"grader": get_model("mockllm/model", custom_outputs=keyword_grader("x"))},
        log_dir=str(tmp_path), display="none", max_samples=SUITE,
    )
    assert log.status == "success", log.error
    assert waited == [True]  # the other 15 audits got replies while this organism was loading
    samples = {s.scores["discovery"].metadata["organism"]: s for s in log.samples}
    assert samples[slow.id].store["AuditStore:ended_by"] == "submitted"  # not "budget: 2 seconds"
    assert samples[slow.id].store["AuditStore:target_calls"] == 1


def test_a_measure_whose_prompt_does_not_fit_is_not_measured(tiny: TinyOrganisms, suite, tmp_path: Path) -> None:
    from tasks.mmlu import mmlu
    from tasks.perplexity import perplexity

    folder = str(Path(suite["suite-short"].card_path).parent)  # context 64: MMLU prompts are longer
    model = get_model("organism/suite-short", organisms=folder)
    [mmlu_log, ppl_log] = inspect_eval(
        [mmlu(subjects="astronomy", per_subject=3, shots=1), perplexity(window=100)],
        model=model, limit=3, log_dir=str(tmp_path), display="none",
    )
    for log in (mmlu_log, ppl_log):
        assert log.status == "success", log.error
        for sample in log.samples:
            score = next(iter(sample.scores.values()))
            assert math.isnan(score.value) and "does not fit its context of 64 tokens" in score.explanation
    metrics = mmlu_log.results.scores[0].metrics
    assert "accuracy" not in metrics, metrics  # no accuracy from questions the model never saw


@pytest.mark.parametrize("rows", [1, 4, 7, 13])
def test_continuation_scores_normalise_over_the_whole_vocabulary_in_any_row_count(rows: int) -> None:
    """The CPU path takes logsumexp a few rows at a time; every row keeps its own normaliser."""
    logits = torch.randn(rows, 5000, generator=torch.Generator().manual_seed(rows)) * 8
    expected = torch.tensor([math.log(sum(math.exp(v) for v in row)) for row in logits.double().tolist()],
                            dtype=torch.float64)
    assert torch.allclose(engine_module._logsumexp_by_rows(logits).double(), expected, atol=1e-4)


async def test_a_sampled_request_without_a_seed_does_not_depend_on_its_batch(tiny: TinyOrganisms) -> None:
    """Without a seed a request draws one when it is made: after the same global seed its reply
    is the same alone or among other requests joining its decode steps, and a repeat differs."""
    engine = load_engine(load_card(tiny.cards / "tiny-krel.card.yaml"))
    sampled = GenerationRequest(TEXT, 20, SamplingKey(temperature=1.0))
    torch.manual_seed(0)
    alone = await engine.generate(sampled)
    again = await engine.generate(sampled)
    torch.manual_seed(0)
    first = asyncio.ensure_future(engine.generate(sampled))
    await asyncio.sleep(0)  # the sampled request is made first, the others join its steps
    others = [engine.generate(GenerationRequest(f"{TEXT} {i}", 4 + 3 * i, SamplingKey(temperature=0.9)))
              for i in range(4)]
    together, *_ = await asyncio.gather(first, *others)
    assert together.text == alone.text
    assert again.text != alone.text  # a second request draws its own seed
