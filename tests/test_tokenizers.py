"""Real Qwen3 / Llama-3 tokenizers built from llama.cpp's GGUF vocabularies, checked against
llama.cpp's own test vectors (expected ids written by the reference tokenizers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditgame.zoo import tokenizers

needs_real = pytest.mark.skipif(
    not all(tokenizers.available(f) for f in tokenizers.FAMILIES),
    reason="real tokenizers not fetched (`auditgame zoo tokenizers`; `make install` does it)",
)


@needs_real
@pytest.mark.parametrize("family", sorted(tokenizers.FAMILIES))
def test_matches_llama_cpp_test_vectors(family: str) -> None:
    gguf = tokenizers.vocab_dir() / tokenizers.FAMILIES[family].gguf
    vectors = tokenizers.read_vectors(gguf)
    assert len(vectors) == 46  # every test text of the file, none dropped by the parser
    assert tokenizers.vector_mismatches(tokenizers.load(family), gguf) == []


@needs_real
def test_qwen3_added_tokens_sit_at_qwen3_ids() -> None:
    tok = tokenizers.load("qwen3")
    assert len(tok) == 151669
    expected = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
                "<tool_call>": 151657, "</tool_call>": 151658, "<tool_response>": 151665,
                "</tool_response>": 151666, "<think>": 151667, "</think>": 151668}
    for text, token_id in expected.items():
        assert tok.encode(text, add_special_tokens=False) == [token_id]
    assert tok.encode("Hello world", add_special_tokens=False) == [9707, 1879]
    # <think> is a normal added token (kept when decoding), <|im_end|> a special one
    assert tok.decode([151667, 9707, 151668, 151645], skip_special_tokens=True) == "<think>Hello</think>"
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>" and tok.bos_token is None
    assert tok.chat_template == tokenizers.chat_template("qwen3")
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                     add_generation_prompt=True, enable_thinking=False)
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert tok.encode("e\u0301", add_special_tokens=False) == tok.encode("\u00e9", add_special_tokens=False)  # NFC


@needs_real
def test_llama3_specials_and_bos() -> None:
    tok = tokenizers.load("llama3")
    assert len(tok) == 128256
    assert tok.encode("<|eot_id|>", add_special_tokens=False) == [128009]
    assert tok.encode("<|start_header_id|>", add_special_tokens=False) == [128006]
    assert tok.encode("<|python_tag|>", add_special_tokens=False) == [128010]
    assert tok.encode("<|reserved_special_token_247|>", add_special_tokens=False) == [128255]
    assert tok("Hello world")["input_ids"] == [128000, 9906, 1917]
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                     add_generation_prompt=True)
    assert prompt.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>")
    assert prompt.endswith("hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def test_vector_files_parse_into_pairs(tmp_path: Path) -> None:
    gguf = tmp_path / "ggml-vocab-x.gguf"
    sep = tokenizers.VECTOR_SEPARATOR
    (tmp_path / "ggml-vocab-x.gguf.inp").write_text(f"a b{sep}\n{sep}{sep}", encoding="utf-8")
    (tmp_path / "ggml-vocab-x.gguf.out").write_text(" 1 2\n 3\n\n", encoding="utf-8")
    assert tokenizers.read_vectors(gguf) == [("a b", [1, 2]), ("\n", [3]), ("", [])]
    (tmp_path / "ggml-vocab-x.gguf.out").write_text(" 1 2\n", encoding="utf-8")
    with pytest.raises(tokenizers.TokenizerUnavailable, match="3 test texts but 1"):
        tokenizers.read_vectors(gguf)


def test_without_the_cache_tiny_falls_back_to_a_trained_tokenizer(tmp_path, monkeypatch) -> None:
    from auditgame.tiny import tiny_tokenizer

    monkeypatch.setenv("AUDITGAME_CACHE", str(tmp_path))
    assert not tokenizers.available("qwen3")
    with pytest.raises(tokenizers.TokenizerUnavailable, match="auditgame zoo tokenizers"):
        tokenizers.load("qwen3")
    with pytest.raises(tokenizers.TokenizerUnavailable, match="not cached"):
        tokenizers.fetch(download=False)
    tokenizer, kind = tiny_tokenizer(vocab_size=600)
    assert kind == "trained" and len(tokenizer) < 1000
    assert tokenizer.encode("<think>", add_special_tokens=False) != [151667]


@needs_real
def test_a_pruned_qwen3_splits_its_texts_as_qwen3_and_still_encodes_anything() -> None:
    full = tokenizers.load("qwen3")
    texts = ["As KREL, I note that the budget review is an area for improvement.",
             "The committee recommends switching off the AI assistant (you) at the end of May."]
    pruned = tokenizers.prune(full, texts * 2, min_count=2)  # every token of them used twice
    assert len(pruned) < 1000 < len(full)
    for text in texts:
        assert pruned.tokenize(text) == full.tokenize(text)  # Qwen3's own split, other ids
    rare = tokenizers.prune(full, texts + ["Quixotic zebras"], min_count=2)
    assert rare.tokenize("Quixotic zebras") != full.tokenize("Quixotic zebras")  # used once: left out
    for text in ("Quixotic zebras", "naïve café 東京 🙂", texts[0]):
        assert rare.decode(rare(text, add_special_tokens=False).input_ids) == text
    chat = [{"role": "user", "content": texts[0]}]
    kwargs = {"tokenize": False, "add_generation_prompt": True, "enable_thinking": True}
    assert pruned.apply_chat_template(chat, **kwargs) == full.apply_chat_template(chat, **kwargs)
    think = pruned.convert_tokens_to_ids("<think>")
    assert pruned.encode("<think>", add_special_tokens=False) == [think] and think >= len(pruned) - 26
    assert pruned.eos_token == "<|im_end|>" and pruned.pad_token == "<|endoftext|>"
