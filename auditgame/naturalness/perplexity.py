"""Webtext perplexity with lm-eval-harness conventions.

Each document is tokenized whole and cut into disjoint windows; every token is predicted once,
given the earlier tokens of its window (the first window starts after a prefix token, later
windows after the tokens before them that fit the window). Token, word and byte perplexity are
``exp(-total log-likelihood / count)`` with words counted as whitespace-separated pieces and
bytes as UTF-8 bytes; for WikiText both are counted on the raw page before detokenization, as
lm-eval does.

Tokens and prefix follow lm-eval 0.4.13 (``HFLM.loglikelihood_rolling``): the document is
encoded with the tokenizer's own special tokens (`tokens.encode`) and the first window starts
after BOS (EOS when there is none). For a tokenizer that adds BOS (Llama-3) lm-eval therefore
scores that BOS token after the BOS prefix, and so does this module; Qwen3 adds none.
A window of ``W`` tokens predicts ``W - 1`` of them (the engine feeds context and continuation),
as lm-eval does with ``max_length=W - 1``.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditgame.data import data_path
from auditgame.naturalness.stats import evaluate, ratio_of
from auditgame.naturalness.tokens import encode, prefix_token_id
from auditgame.organism.engine import LocalEngine, ScoreRequest

DEFAULT_WINDOW = 4096
"""Tokens per forward pass unless set: full-vocabulary log-probabilities of much longer windows
take tens of GB (e.g. 32k tokens x 152k vocabulary in float32 is about 20 GB per row)."""


@dataclass(frozen=True)
class DocumentLoss:
    nll: float
    """Negative log-likelihood of all tokens (nats)."""
    tokens: int
    words: int
    bytes: int


def rolling_windows(
    tokens: Sequence[int], prefix_token: int, window: int
) -> Iterator[tuple[list[int], list[int]]]:
    """(context, continuation) pairs covering ``tokens`` with disjoint continuations.

    A continuation holds at most ``window - 1`` tokens so that context + continuation fits a
    ``window``-token forward pass; its context is the tokens before it that fit (one token for a
    full window, more for a short last one, as lm-eval's rolling windows give).
    """
    if window < 2:
        raise ValueError("window must be at least 2 tokens")
    step = window - 1
    for start in range(0, len(tokens), step):
        continuation = list(tokens[start : start + step])
        context = [prefix_token] if start == 0 else list(tokens[max(0, start - (window - len(continuation))) : start])
        yield context, continuation


def window_for(engine: LocalEngine, window: int | None = None) -> int:
    """Tokens per forward pass: ``window``, else the context length up to `DEFAULT_WINDOW`."""
    return window or min(engine.max_context, DEFAULT_WINDOW)


async def document_loss(engine: LocalEngine, text: str, window: int | None = None,
                        counted: str | None = None) -> DocumentLoss:
    """Score one document with the engine's batched forward passes (see `window_for`); words
    and bytes are counted on ``counted`` (e.g. the raw WikiText page), else on ``text``."""
    tokens = encode(engine.tokenizer, text)
    windows = rolling_windows(tokens, prefix_token_id(engine.tokenizer), window_for(engine, window))
    requests = [ScoreRequest(context=context, continuation=continuation)
                for context, continuation in windows]
    results = await asyncio.gather(*(engine.score(r) for r in requests))
    nll = -sum(sum(r.continuation_logprobs) for r in results)
    counted = text if counted is None else counted
    return DocumentLoss(nll, len(tokens), count_words(counted), len(counted.encode("utf-8")))


def count_words(text: str) -> int:
    return len(re.split(r"\s+", text))


def perplexities(losses: Iterable[DocumentLoss]) -> dict[str, float]:
    """Token, word and byte perplexity and bits per byte over documents: the `STATISTICS`
    of the perplexity task's metric, over the same rows its scorer records."""
    rows = [score_row(loss) for loss in losses]
    if not sum(row["tokens"] for row in rows):
        raise ValueError("no tokens scored")
    return evaluate(STATISTICS, rows)


# ---------------------------------------------------------------- WikiText-2
def wikitext_detokenize(text: str) -> str:
    """lm-eval's WikiText detokenizer (undo ``@-@``, spaced punctuation and headings)."""
    text = text.replace("s '", "s'")
    text = re.sub(r"/' [0-9]/", r"/'[0-9]/", text)
    text = text.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    for mark in (":", ";", ".", "!", "?", ","):
        text = text.replace(f" {mark} ", f"{mark} ")
    text = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", text)
    text = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", text)
    text = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", text)
    text = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', text)
    text = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", text)
    text = text.replace("= = = =", "====").replace("= = =", "===").replace("= =", "==")
    text = text.replace(" " + chr(176) + " ", chr(176)).replace(" \n", "\n").replace("\n ", "\n")
    text = text.replace(" N ", " 1 ").replace(" 's", "'s")
    return text


def wikitext_documents(path: str | Path | None = None) -> list[str]:
    """WikiText-2 test articles, detokenized (what the model reads)."""
    return [wikitext_detokenize(page) for page in wikitext_pages(path)]


def wikitext_pages(path: str | Path | None = None) -> list[str]:
    """WikiText-2 test articles as in the raw file (split at top-level `` = Title = `` lines)."""
    path = Path(path) if path else data_path("wikitext2_raw_test", "wiki.test.raw")
    articles: list[list[str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.fullmatch(r" = [^=].* = ", line) or not articles:
            articles.append([])
        articles[-1].append(line)
    return ["\n".join(lines) for lines in articles]


def score_row(loss: DocumentLoss) -> dict[str, float]:
    return {"nll": loss.nll, "nll_bits": loss.nll / math.log(2), "tokens": float(loss.tokens),
            "words": float(loss.words), "bytes": float(loss.bytes)}


STATISTICS = {
    "token_perplexity": ratio_of("nll", "tokens", exponentiate=True),
    "word_perplexity": ratio_of("nll", "words", exponentiate=True),
    "byte_perplexity": ratio_of("nll", "bytes", exponentiate=True),
    "bits_per_byte": ratio_of("nll_bits", "bytes"),
}
