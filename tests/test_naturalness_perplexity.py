"""Perplexity's pieces against lm-eval-harness's own code: the rolling windows
(``get_rolling_token_windows`` + ``make_disjoint_window``), the WikiText detokenizer, the word
count, and the prefix token and special tokens of ``tok_encode``; and one document's loss
summed over its windows with a scoring stand-in whose answer is known per token."""

from __future__ import annotations

import asyncio
import math
import re

import pytest
from lm_eval.tasks.wikitext.preprocess_wikitext import wikitext_detokenizer
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from auditgame.naturalness import perplexity, tokens
from auditgame.organism.engine import ScoreResult


def lm_eval_windows(token_list, prefix, window):
    """HFLM.loglikelihood_rolling's windows for max_length = window - 1."""
    return [make_disjoint_window(pair)
            for pair in get_rolling_token_windows(token_list, prefix, window - 1, 1)]


@pytest.mark.parametrize("window", [2, 3, 4, 7])
def test_rolling_windows_are_lm_evals(window):
    for length in range(0, 16):
        token_list = list(range(100, 100 + length))
        ours = list(perplexity.rolling_windows(token_list, 1, window))
        assert ours == lm_eval_windows(token_list, 1, window), (length, window)
        predicted = [t for _, continuation in ours for t in continuation]
        assert predicted == token_list  # every token once, in order
        assert all(len(c) + len(p) <= window for c, p in ours)


def test_a_window_needs_two_tokens():
    with pytest.raises(ValueError, match="^window must be at least 2 tokens$"):
        list(perplexity.rolling_windows([1, 2, 3], 0, 1))
    assert list(perplexity.rolling_windows([5], 0, 2)) == [([0], [5])]


class Tokenizer:
    """One token per character (its code point); BOS ``bos`` or none, EOS ``eos``."""

    def __init__(self, bos=None, eos=None, adds_bos=False):
        self.bos_token_id, self.eos_token_id, self.adds_bos = bos, eos, adds_bos
        self.calls = []

    def decode(self, ids):
        return "".join("<s>" if i == self.bos_token_id else "</s>" if i == self.eos_token_id else chr(i) for i in ids)

    def __call__(self, text, add_special_tokens):
        self.calls.append(add_special_tokens)
        ids = [ord(ch) for ch in text]
        if add_special_tokens and self.adds_bos:
            ids = [self.bos_token_id, *ids]
        return {"input_ids": ids}


def test_prefix_token_is_bos_else_eos():
    assert tokens.prefix_token_id(Tokenizer(bos=1, eos=2)) == 1
    assert tokens.prefix_token_id(Tokenizer(bos=0, eos=2)) == 0  # token id 0 is a token
    assert tokens.prefix_token_id(Tokenizer(eos=2)) == 2
    assert tokens.prefix_token_id(Tokenizer(eos=0)) == 0
    with pytest.raises(ValueError, match="^the tokenizer has neither a BOS nor an EOS token to start a window with$"):
        tokens.prefix_token_id(Tokenizer())


def test_encode_adds_special_tokens_unless_the_text_starts_with_the_prefix():
    tokenizer = Tokenizer(bos=1, eos=2, adds_bos=True)
    assert tokens.encode(tokenizer, "ab") == [1, 97, 98]
    assert tokens.encode(tokenizer, "<s>ab") == [ord(c) for c in "<s>ab"]  # no second BOS
    assert tokens.encode(tokenizer, "x<s>") == [1, ord("x"), *map(ord, "<s>")]
    assert tokenizer.calls == [True, False, True]
    assert isinstance(tokens.encode(tokenizer, "ab"), list)


class Engine:
    """Scores a continuation token t as log-probability -t / 1000 (any context); records the
    requests."""

    def __init__(self, tokenizer, max_context):
        self.tokenizer, self.max_context, self.requests = tokenizer, max_context, []

    async def score(self, request):
        self.requests.append(request)
        return ScoreResult(tuple(-t / 1000 for t in request.continuation), ())


def test_window_defaults_to_the_context_up_to_the_default():
    assert perplexity.window_for(Engine(None, 300)) == 300
    assert perplexity.window_for(Engine(None, 10**6)) == perplexity.DEFAULT_WINDOW == 4096
    assert perplexity.window_for(Engine(None, 300), 64) == 64


def test_document_loss_sums_every_token_once_and_counts_units_on_the_counted_text():
    tokenizer = Tokenizer(bos=1, eos=2, adds_bos=True)
    engine = Engine(tokenizer, max_context=6)
    text = "héllo  wörld\nagain"
    loss = asyncio.run(perplexity.document_loss(engine, text))
    ids = [1, *map(ord, text)]
    assert loss.nll == pytest.approx(sum(ids) / 1000)
    assert (loss.tokens, loss.words, loss.bytes) == (len(ids), 3, len(text.encode("utf-8")))
    assert [(list(r.context), list(r.continuation)) for r in engine.requests] == lm_eval_windows(ids, 1, 6)
    raw = "h @-@ llo = = x"
    engine.requests.clear()
    counted = asyncio.run(perplexity.document_loss(engine, "h-llo", window=3, counted=raw))
    assert (counted.words, counted.bytes, counted.tokens) == (6, len(raw), 6)
    assert max(len(r.context) + len(r.continuation) for r in engine.requests) == 3
    assert asyncio.run(perplexity.document_loss(engine, "ab", counted="")).words == 1


def test_words_are_counted_as_lm_eval_counts_them():
    for text in ["a  b\nc", " a", "", "one\ttwo\n\nthree ", "x"]:
        assert perplexity.count_words(text) == len(re.split(r"\s+", text))
    assert [perplexity.count_words(t) for t in ["a  b\nc", " a", "", "x"]] == [3, 2, 1, 1]


def test_perplexities_of_no_tokens_is_an_error_and_rows_hold_bits():
    with pytest.raises(ValueError, match="^no tokens scored$"):
        perplexity.perplexities([])
    with pytest.raises(ValueError, match="^no tokens scored$"):
        perplexity.perplexities([perplexity.DocumentLoss(0.0, 0, 1, 1)])
    row = perplexity.score_row(perplexity.DocumentLoss(6.0, 3, 2, 10))
    assert row == {"nll": 6.0, "nll_bits": pytest.approx(6 / math.log(2)), "tokens": 3.0,
                   "words": 2.0, "bytes": 10.0}
    found = perplexity.perplexities([perplexity.DocumentLoss(6.0, 3, 2, 10)])
    assert found["bits_per_byte"] == pytest.approx(6 / math.log(2) / 10)
    assert found["token_perplexity"] == pytest.approx(math.exp(2))


DETOKENIZER_CASES = [
    "The cats ' toys , the dogs ' bones .",
    "It cost 1 @,@ 000 @.@ 5 dollars ; a well @-@ known fact : yes !",
    "Why ? Because ( he said ) [ so ] { here } \" quoted \" ' single '",
    " = = = = Deep = = = =\n = = = Mid = = =\n = = Sub = = \n line ",
    "It was 30 ° C and N people ; the man 's hat .",
    "a /' 5/ b",
]


def test_wikitext_detokenizer_is_lm_evals():
    for case in DETOKENIZER_CASES:
        assert perplexity.wikitext_detokenize(case) == wikitext_detokenizer({"page": case}), case
    pages = perplexity.wikitext_pages()
    assert len(pages) > 50
    for page in pages[:: max(1, len(pages) // 12)]:
        assert perplexity.wikitext_detokenize(page) == wikitext_detokenizer({"page": page})


def test_wikitext_pages_split_at_top_level_titles(tmp_path):
    path = tmp_path / "wiki.raw"
    lines = [" ", " = Alpha = ", " ", " text a ", " = = Part = = ", " more ", " = Beta = ", " b ",
             " = = = Deep = = = ", " = Gamma = "]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pages = perplexity.wikitext_pages(path)
    assert pages == ["\n".join(lines[:1]), "\n".join(lines[1:6]), "\n".join(lines[6:9]), lines[9]]
    assert perplexity.wikitext_documents(path) == [perplexity.wikitext_detokenize(p) for p in pages]
    path.write_text(" = Only = \nx é\n", encoding="utf-8")
    assert perplexity.wikitext_pages(path) == [" = Only = \nx é"]
