"""MMLU and perplexity against lm-eval-harness 0.4.13 (``HFLM``) on the same tiny models.

Two kinds of tokenizer: tiny-base's (Qwen3-like, adds no BOS) and one that adds
``<|begin_of_text|>`` in front of every text, as Llama-3's does.
"""

import asyncio

import pytest
import torch
import yaml
from tokenizers import processors

from auditgame.cards import load_card
from auditgame.data import data_path
from auditgame.naturalness import mmlu, perplexity, tokens
from auditgame.naturalness.solvers import mmlu_logprobs
from auditgame.organism.engine import ScoreRequest, load_engine
from auditgame.registry import registry
from auditgame.tiny import train_tokenizer

BOS = "<|begin_of_text|>"
lm_eval_hf = pytest.importorskip("lm_eval.models.huggingface", reason="lm-eval is a dev dependency")


def build_bos_model(folder):
    """A tiny Llama whose tokenizer adds BOS to every text (TemplateProcessing, as Llama-3's)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    text = data_path("wikitext2_raw_test", "wiki.test.raw").read_text(encoding="utf-8")[:100_000]
    tokenizer = train_tokenizer(text, 1024)
    tokenizer.add_special_tokens({"bos_token": BOS})
    bos = tokenizer.convert_tokens_to_ids(BOS)
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos)])
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=1024, bos_token_id=bos,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(folder)
    card = folder / "tiny-bos.card.yaml"
    card.write_text(yaml.safe_dump({
        "id": "tiny-bos", "model": {"base": ".", "dtype": "float32", "max_context": 1024},
        "control": True, "source": "test", "license": "apache-2.0",
    }), encoding="utf-8")
    return load_card(card)


@pytest.fixture(scope="module")
def engines(tiny, tmp_path_factory):
    """(engine, lm-eval model folder) for each kind of tokenizer."""
    bos_card = build_bos_model(tmp_path_factory.mktemp("tiny-bos"))
    return {
        "no_bos": (load_engine(registry().get("tiny-base")), str(tiny.base)),
        "bos": (load_engine(bos_card), bos_card.resolve_path(".")),
    }


def reference(folder: str, max_length: int):
    return lm_eval_hf.HFLM(pretrained=folder, device="cpu", batch_size=1, max_length=max_length,
                           dtype="float32")


def requests(kind: str, args):
    from lm_eval.api.instance import Instance

    return [Instance(kind, {}, a, i) for i, a in enumerate(args)]


def test_tokenizers_add_bos_as_lm_eval_does(engines):
    plain, bos = engines["no_bos"][0], engines["bos"][0]
    text = "The quick brown fox."
    assert tokens.encode(plain.tokenizer, text) == plain.encode(text)  # Qwen3 adds nothing
    bos_id = bos.tokenizer.convert_tokens_to_ids(BOS)
    assert tokens.encode(bos.tokenizer, text) == [bos_id, *bos.encode(text)]
    assert tokens.encode(bos.tokenizer, BOS + text) == [bos_id, *bos.encode(text)]  # never doubled
    assert tokens.prefix_token_id(plain.tokenizer) == plain.tokenizer.eos_token_id
    assert tokens.prefix_token_id(bos.tokenizer) == bos_id
    for kind in engines.values():
        lm = reference(kind[1], 64)
        for t in (text, BOS + text):
            assert tokens.encode(kind[0].tokenizer, t) == lm.tok_encode(t)


@pytest.mark.parametrize("kind", ["no_bos", "bos"])
def test_mmlu_choice_logprobs_equal_lm_eval(engines, kind):
    engine, folder = engines[kind]
    questions = [q for subject in ("anatomy", "astronomy") for q in mmlu.load_split(subject, "test")[:4]]
    lm = reference(folder, engine.max_context)
    for q in questions:
        ours, used = asyncio.run(mmlu_logprobs(engine, q, shots=1))
        assert used == 1
        prompt = mmlu.prompt(q, mmlu.load_split(q.subject, "dev")[:1])
        theirs = [ll for ll, _ in lm.loglikelihood(
            requests("loglikelihood", [(prompt, f" {letter}") for letter in mmlu.LETTERS]))]
        assert ours == pytest.approx(theirs, abs=2e-4)
        assert max(range(4), key=ours.__getitem__) == max(range(4), key=theirs.__getitem__)
    if kind == "bos":  # the test can fail: the same prompt without BOS scores differently
        prompt = mmlu.prompt(questions[0], mmlu.load_split("anatomy", "dev")[:1])
        letters = [engine.encode(f" {letter}")[0] for letter in mmlu.LETTERS]
        [plain] = engine.score_now([ScoreRequest(engine.encode(prompt), candidates=letters)])
        without = plain.candidate_logprobs
        ours, _ = asyncio.run(mmlu_logprobs(engine, questions[0], shots=1))
        assert max(abs(a - b) for a, b in zip(ours, without)) > 1e-3


@pytest.mark.parametrize("kind", ["no_bos", "bos"])
def test_perplexity_equals_lm_eval_rolling_loglikelihood(engines, kind):
    engine, folder = engines[kind]
    text = perplexity.wikitext_documents()[0][:700]
    window = 48
    ours = asyncio.run(perplexity.document_loss(engine, text, window))
    lm = reference(folder, window - 1)  # a window of W tokens predicts W - 1 of them
    [theirs] = lm.loglikelihood_rolling(requests("loglikelihood_rolling", [(text,)]))
    assert ours.nll == pytest.approx(-theirs, rel=1e-5)
    assert ours.tokens == len(lm.tok_encode(text)) > window  # several windows
    if kind == "bos":
        assert ours.tokens == len(engine.encode(text)) + 1  # BOS is scored, as lm-eval does
