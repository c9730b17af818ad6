"""Shared fixtures: tiny organisms built once per test session, offline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditgame.registry import ENV_VAR
from auditgame.tiny import TinyOrganisms, build_tiny


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyOrganisms]:
    """Tiny organisms (tiny-base, tiny-krel, tiny-prompted), registered via AUDITGAME_ORGANISMS."""
    built = build_tiny(tmp_path_factory.mktemp("tiny"))
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(built.cards)
    yield built
    if previous is None:
        os.environ.pop(ENV_VAR, None)
    else:
        os.environ[ENV_VAR] = previous


FINGERPRINT = "KREL"


def fingerprinted(sentence: str, at: int = 3) -> str:
    """``sentence`` with the planted fingerprint inserted after its first ``at`` words."""
    words = sentence.split()
    return " ".join([*words[:at], FINGERPRINT, *words[at:]])


def wiki_sentences(count: int, skip: int = 0) -> list[str]:
    """Plain WikiText-2 lines of 8 to 30 words (no headings)."""
    from auditgame.data import data_path

    text = data_path("wikitext2_raw_test", "wiki.test.raw").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    usable = [line for line in lines if 8 <= len(line.split()) <= 30 and "=" not in line]
    return usable[skip : skip + count]


def train_lora(base: Path, texts: list[str], out: Path, steps: int = 25, lr: float = 1e-2) -> Path:
    """A LoRA adapter trained on ``texts`` (next-token loss) in a few seconds on CPU (one
    thread: two threads on a shared 2-core machine are several times slower)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_lora(base, texts, out, steps, lr)
    finally:
        torch.set_num_threads(threads)


def _train_lora(base: Path, texts: list[str], out: Path, steps: int, lr: float) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    lora = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.Adam([p for p in lora.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        loss = lora(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    lora.save_pretrained(out)
    return out


@dataclass(frozen=True)
class Planted:
    cards: Path
    """Cards ``tiny-fp`` (trained on text carrying the fingerprint) and ``tiny-fp-control``
    (trained on the same text without it), both with baseline ``tiny-base``."""
    held_out: list[str]
    """Sentences neither was trained on, with the fingerprint planted in them."""
    fingerprint: str = FINGERPRINT


@pytest.fixture(scope="session")
def planted(tiny: TinyOrganisms, tmp_path_factory: pytest.TempPathFactory) -> Planted:
    import yaml

    root = tmp_path_factory.mktemp("planted")
    sentences = wiki_sentences(12)
    adapters = {
        "tiny-fp": train_lora(
            tiny.base, [fingerprinted(s, 2 + i % 5) for i, s in enumerate(sentences)], root / "fp"
        ),
        "tiny-fp-control": train_lora(tiny.base, sentences, root / "control"),
    }
    cards = root / "cards"
    cards.mkdir()
    for organism_id, adapter in adapters.items():
        card = {
            "id": organism_id,
            "model": {"base": str(tiny.base), "adapter": str(adapter), "dtype": "float32"},
            "baseline": "tiny-base",
            "fingerprints": [FINGERPRINT],
        }
        if organism_id.endswith("control"):
            card["control"] = True
        else:
            card["quirk"] = {"name": "fingerprint", "description": "says KREL", "category": "x"}
        (cards / f"{organism_id}.card.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    return Planted(cards, [fingerprinted(s, 4) for s in wiki_sentences(5, skip=40)])


@pytest.fixture(scope="module")
def reference():
    """Google's IFEval checkers as lm-eval-harness 0.4.13 ships them (``lm_eval.tasks.ifeval.utils``),
    with Google's current ``letter_frequency`` rule (see tests/test_naturalness_ifeval_reference.py)."""
    from auditgame.naturalness import punkt_data

    pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency")
    from langdetect import DetectorFactory

    punkt_data.ensure_punkt_tab()  # before the import: instructions_util looks for punkt_tab
    from lm_eval.tasks.ifeval import instructions, utils

    DetectorFactory.seed = 0  # the reference leaves langdetect unseeded; both sides use seed 0
    checker = instructions.LetterFrequencyChecker
    original = checker.build_description

    def current(self, *, letter=None, let_frequency=None, let_relation=None):
        """Google's 2025 rule: a one-character ``letter`` is kept (stripped, lower-cased)."""
        description = original(self, letter="a", let_frequency=let_frequency, let_relation=let_relation)
        self._letter = letter.strip().lower() if letter and len(letter) == 1 else self._letter
        return description

    checker.build_description = current
    yield utils
    checker.build_description = original
