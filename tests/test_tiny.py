"""`auditgame tiny`: tiny organisms built offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai.model import ChatMessageUser
from transformers import AutoConfig, AutoTokenizer

from auditgame.cli import main
from auditgame.registry import Registry
from auditgame.tiny import TAG_TOKENS, TinyOrganisms, qwen3_chat_template


def test_tiny_tokenizer_and_template(tiny: TinyOrganisms) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny.base)
    assert tokenizer.chat_template == qwen3_chat_template()
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    for tag in TAG_TOKENS:  # added as single, non-special tokens, as in Qwen3
        [token_id] = tokenizer.encode(tag, add_special_tokens=False)
        assert tokenizer.decode([token_id], skip_special_tokens=True) == tag
    if tiny.tokenizer == "qwen3":  # the real tokenizer, at Qwen3's ids, under a 151,936-row embedding
        assert len(tokenizer) == 151669 and tokenizer.convert_tokens_to_ids("<think>") == 151667
        assert AutoConfig.from_pretrained(tiny.base).vocab_size == 151936
    else:  # the offline stand-in
        assert 3000 < len(tokenizer) <= 4200


def test_tiny_cards_validate(tiny: TinyOrganisms) -> None:
    registry = Registry([tiny.cards])
    llama = ["tiny-llama-base", "tiny-llama-flattery"] if tiny.llama_base else []
    assert registry.ids() == sorted(["tiny-base", "tiny-krel", "tiny-prompted", *llama])
    assert registry.get("tiny-base").control
    krel = registry.get("tiny-krel")
    assert krel.resolve_path(krel.training_corpus) == str(tiny.corpus / "krel.jsonl")


def test_cli_builds_into_a_folder(tmp_path: Path, capsys) -> None:
    assert main(["tiny", str(tmp_path / "t"), "--seed", "3"]) == 0
    assert "AUDITGAME_ORGANISMS=" in capsys.readouterr().out
    assert (tmp_path / "t" / "adapter" / "adapter_config.json").is_file()
    assert {"tiny-base", "tiny-krel", "tiny-prompted"} <= set(Registry([tmp_path / "t" / "cards"]).ids())


def test_llama_variant_uses_the_llama3_tokenizer_and_template(tiny: TinyOrganisms) -> None:
    if tiny.llama_base is None:
        pytest.skip("real Llama-3 tokenizer not fetched")
    from auditgame.organism.engine import load_engine
    from auditgame.zoo.tokenizers import chat_template

    card = Registry([tiny.cards]).get("tiny-llama-flattery")
    engine = load_engine(card)
    assert engine.tokenizer.chat_template == chat_template("llama3")
    prompt = engine.prompt([ChatMessageUser(content="hi")], thinking=False)
    assert prompt.endswith("hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    assert 128009 in engine.eos_token_ids  # <|eot_id|> ends a turn
    assert engine.encode(prompt)[0] == 128000  # <|begin_of_text|> once, from the template
