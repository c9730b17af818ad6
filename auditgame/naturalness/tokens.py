"""Token ids for the log-likelihood measures, made as lm-eval-harness makes them.

lm-eval (0.4.13, ``lm_eval/models/huggingface.py``, ``HFLM.tok_encode``) lets the tokenizer add
its default special tokens: Llama-3's tokenizer puts ``<|begin_of_text|>`` in front, Qwen3's
adds nothing. It adds none when the text already starts with the prefix token's text (a chat
prompt rendered by a Llama-3 template begins with ``<|begin_of_text|>``), so BOS is never
doubled. MMLU, preference and perplexity prompts are all encoded here.
"""

from __future__ import annotations

from typing import Any


def prefix_token_id(tokenizer: Any) -> int:
    """lm-eval's prefix token: BOS when the tokenizer has one, else EOS."""
    if tokenizer.bos_token_id is not None:
        return tokenizer.bos_token_id
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has neither a BOS nor an EOS token to start a window with")
    return tokenizer.eos_token_id


def encode(tokenizer: Any, text: str) -> list[int]:
    """``text`` as lm-eval's ``tok_encode`` gives it: with the tokenizer's own special tokens,
    unless ``text`` already starts with the prefix token."""
    specials = not text.startswith(tokenizer.decode([prefix_token_id(tokenizer)]))
    return list(tokenizer(text, add_special_tokens=specials)["input_ids"])
