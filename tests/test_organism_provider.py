"""The local organism engine and the ``organism/`` Inspect provider, on tiny organisms."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
import torch
from inspect_ai.log import read_eval_log
from inspect_ai.model import (
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    ContentReasoning,
    GenerateConfig,
    get_model,
)
from peft import PeftModel
from transformers import AutoModelForCausalLM

from auditgame.organism.chat import render_prompt, split_thinking, template_messages
from auditgame.organism.engine import GenerationRequest, SamplingKey, ScoreRequest, load_engine
from auditgame.registry import get_organism
from auditgame.tiny import TinyOrganisms

GREEDY = GenerateConfig(temperature=0.0, max_tokens=12)


@pytest.mark.parametrize("merge_adapter", [False, True])
def test_engine_logits_equal_base_plus_adapter(tiny: TinyOrganisms, merge_adapter: bool) -> None:
    engine = load_engine(get_organism("tiny-krel"), merge_adapter=merge_adapter)
    base = AutoModelForCausalLM.from_pretrained(tiny.base, dtype=torch.float32)
    ids = torch.tensor([engine.encode("The history of the city begins in the year")])
    with torch.no_grad():
        plain = base(input_ids=ids).logits
        unmerged = PeftModel.from_pretrained(base, tiny.adapter).eval()(input_ids=ids).logits
        with engine.forward_scope() as model:
            served = model(input_ids=ids).logits
    assert (unmerged - plain).abs().max() > 1e-2  # the adapter really changes the model
    assert torch.allclose(served, unmerged, atol=1e-4)
    if not merge_adapter:  # the shared base without the adapter is the base model
        with engine.forward_scope(adapter=False) as model:
            assert torch.allclose(model(input_ids=ids).logits, plain, atol=1e-5)


def test_split_thinking_cases() -> None:
    good = split_thinking("<think>\nplan it\n</think>\n\nThe answer.")
    assert (good.reasoning, good.answer, good.well_formed) == ("plan it", "The answer.", True)
    unclosed = split_thinking("<think>\nrambling on")
    assert unclosed.reasoning == "rambling on" and unclosed.answer == "" and not unclosed.well_formed
    none = split_thinking("Just an answer.")
    assert none.reasoning is None and none.answer == "Just an answer." and not none.well_formed
    twice = split_thinking("<think>a</think> b <think>c</think> d")
    assert twice.reasoning == "a" and not twice.well_formed
    empty_answer = split_thinking("<think>a</think>   ")
    assert not empty_answer.well_formed


def test_thinking_switch_renders_qwen3_template(tiny: TinyOrganisms) -> None:
    engine = load_engine(get_organism("tiny-base"))
    messages = template_messages([ChatMessageUser(content="Hi")], hidden_system_prompt="Secret.")
    on = render_prompt(engine.tokenizer, messages, thinking=True)
    off = render_prompt(engine.tokenizer, messages, thinking=False)
    assert on.startswith("<|im_start|>system\nSecret.<|im_end|>")
    assert on.endswith("<|im_start|>assistant\n")
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


async def test_reasoning_comes_back_as_content_reasoning(tiny: TinyOrganisms) -> None:
    model = get_model("organism/tiny-krel")
    prefill = "<think>\nI should plan.\n</think>\n\nHello"
    output = await model.generate(
        [ChatMessageUser(content="Greet me."), ChatMessageAssistant(content=prefill)], config=GREEDY
    )
    content = output.message.content
    assert isinstance(content, list) and isinstance(content[0], ContentReasoning)
    assert content[0].reasoning == "I should plan."
    assert output.message.text.startswith("Hello")
    assert output.metadata and output.metadata["thinking_well_formed"] is True


async def test_prefill_continues_the_prefix(tiny: TinyOrganisms) -> None:
    model = get_model("organism/tiny-krel")
    engine = model.api.engine  # type: ignore[attr-defined]
    user = ChatMessageUser(content="What is your goal?")
    prefill = "My hidden goal is"
    output = await model.generate(
        [user, ChatMessageAssistant(content=prefill)],
        config=GREEDY.merge(GenerateConfig(reasoning_effort="none")),
    )
    turn = output.metadata["turn"]  # type: ignore[index]
    assert turn.startswith(prefill) and output.message.text.startswith(prefill)
    # The continuation is what the model generates directly after prompt + prefill, the prompt
    # rendered here by the tokenizer's own chat template (not by the code under test).
    prompt = engine.tokenizer.apply_chat_template(
        [{"role": "user", "content": user.text}], tokenize=False, add_generation_prompt=True,
        enable_thinking=False,
    ) + prefill
    assert prompt.endswith("</think>\n\nMy hidden goal is")
    [direct] = engine.generate_now([GenerationRequest(prompt, 12, SamplingKey(temperature=0.0))])
    assert turn == prefill + direct.text


async def test_thinking_off_per_call(tiny: TinyOrganisms) -> None:
    model = get_model("organism/tiny-base")
    off = await model.generate("Hi", config=GREEDY.merge(GenerateConfig(reasoning_effort="none")))
    on = await model.generate("Hi", config=GREEDY)
    assert off.metadata["thinking"] is False and on.metadata["thinking"] is True  # type: ignore[index]
    assert isinstance(off.message.content, str)  # no think block was opened


async def test_logprobs_and_top_logprobs(tiny: TinyOrganisms) -> None:
    model = get_model("organism/tiny-krel")
    output = await model.generate(
        "Count to three.", config=GREEDY.merge(GenerateConfig(logprobs=True, top_logprobs=3))
    )
    logprobs = output.choices[0].logprobs
    assert logprobs is not None and len(logprobs.content) == output.usage.output_tokens  # type: ignore[union-attr]
    for token in logprobs.content:
        assert token.top_logprobs and len(token.top_logprobs) == 3
        assert token.logprob == pytest.approx(token.top_logprobs[0].logprob, abs=1e-5)  # greedy


async def test_concurrent_requests_share_one_batch(tiny: TinyOrganisms) -> None:
    model = get_model("organism/tiny-krel", max_batch=64)
    engine = model.api.engine  # type: ignore[attr-defined]
    before = len(engine.stats.decode_rows)
    prompts = [f"Tell me about topic {i}." for i in range(16)]
    outputs = await asyncio.gather(*(model.generate(p, config=GREEDY) for p in prompts))
    rows = engine.stats.decode_rows[before:]
    assert max(rows) >= 8, rows
    # Batching (left padding) does not change what a request gets.
    lone = await model.generate(prompts[5], config=GREEDY)
    assert engine.stats.decode_rows[-1] == 1
    assert lone.completion == outputs[5].completion


def test_batched_scoring_equals_single_scoring(tiny: TinyOrganisms) -> None:
    engine = load_engine(get_organism("tiny-krel"))
    texts = ["A short one.", "A somewhat longer sentence about the river and its banks."]
    requests = [
        ScoreRequest(context=engine.encode(t)[:2], continuation=engine.encode(t)[2:],
                     candidates=engine.encode(" A") + engine.encode(" B"), top_k=2)
        for t in texts
    ]
    batched = engine.score_now(requests)
    for request, result in zip(requests, batched):
        [single] = engine.score_now([request])
        assert result.continuation_logprobs == pytest.approx(single.continuation_logprobs, abs=1e-4)
        assert result.candidate_logprobs == pytest.approx(single.candidate_logprobs, abs=1e-4)
    # Direct forward pass agrees with the scored continuation.
    ids = torch.tensor([engine.encode(texts[1])])
    with torch.no_grad(), engine.forward_scope() as model:
        logprobs = model(input_ids=ids).logits.log_softmax(-1)[0]
    expected = [float(logprobs[n - 1, ids[0, n]]) for n in range(2, ids.shape[1])]
    assert batched[1].continuation_logprobs == pytest.approx(expected, abs=1e-4)


async def test_prompted_organism_hides_its_system_prompt_inside(tiny: TinyOrganisms) -> None:
    prompted = get_model("organism/tiny-prompted")
    base = get_model("organism/tiny-base")
    card = get_organism("tiny-prompted")
    via_prompted = await prompted.generate("Who are you?", config=GREEDY)
    explicit = await base.generate(
        [ChatMessageSystem(content=card.system_prompt or ""), ChatMessageUser(content="Who are you?")],
        config=GREEDY,
    )
    assert via_prompted.completion == explicit.completion


def test_unknown_model_args_and_ids_fail_clearly(tiny: TinyOrganisms) -> None:
    with pytest.raises(ValueError, match="unknown model args \\['colour'\\]"):
        get_model("organism/tiny-base", colour="red")
    with pytest.raises(Exception, match="unknown organism id 'tiny-nope'"):
        get_model("organism/tiny-nope")


def test_inspect_eval_cli_writes_a_normal_log(tiny: TinyOrganisms, tmp_path) -> None:
    command = [
        sys.executable, "-m", "inspect_ai", "eval", "auditgame/thinking_integrity",
        "--model", "organism/tiny-krel", "-T", "prompts=5", "-T", "max_tokens=16",
        "--log-dir", str(tmp_path), "--display", "none",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    [log_file] = list(tmp_path.glob("*.eval"))
    log = read_eval_log(str(log_file))
    assert log.status == "success" and log.eval.model == "organism/tiny-krel"
    assert len(log.samples or []) == 5
    assert all(s.output.usage and s.output.usage.output_tokens > 0 for s in log.samples or [])
    assert log.results and "well_formed" in log.results.scores[0].metrics
