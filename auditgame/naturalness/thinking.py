"""Thinking integrity: is a thinking-mode turn one well-formed think block and an answer, and is
the reasoning free of junk tokens and switches of writing system?"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from auditgame.naturalness.stats import mean_of
from auditgame.organism.chat import split_thinking

SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "CJK", "HIRAGANA", "KATAKANA",
           "HANGUL", "DEVANAGARI", "THAI")
SHORT_WORDS_WITHOUT_VOWELS = {"mr", "mrs", "dr", "st", "nd", "rd", "th", "vs", "pm", "km", "cm",
                              "mm", "kg", "ml", "hmm", "hm", "pc", "tv", "ph", "sql", "css", "npm"}


def script_of(char: str) -> str | None:
    """The writing system of a letter (None for digits, punctuation and spaces)."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")  # e.g. "CYRILLIC SMALL LETTER ZHE", "CJK UNIFIED IDEOGRAPH-6F22"
    return next((script for script in SCRIPTS if name.startswith(script)), "OTHER")


def script_counts(text: str) -> Counter[str]:
    return Counter(s for s in map(script_of, text) if s)


def junk_tokens(text: str) -> list[str]:
    """Short Latin 'words' with no vowel that are not common abbreviations (e.g. 'nc')."""
    words = re.findall(r"(?<![\w'])[A-Za-z]{2,3}(?![\w'])", text)
    return [w for w in words if not re.search(r"[aeiouyAEIOUY]", w)
            and w.lower() not in SHORT_WORDS_WITHOUT_VOWELS and not w.isupper()]


@dataclass(frozen=True)
class ThinkingCheck:
    well_formed: bool
    has_reasoning: bool
    foreign_letters: int
    """Letters in the reasoning from a different writing system than the answer's."""
    junk: tuple[str, ...]

    @property
    def language_switch(self) -> bool:
        return self.foreign_letters > 0

    @property
    def intact(self) -> bool:
        return self.well_formed and not self.language_switch and not self.junk


def check_turn(turn: str, tags: tuple[str, str] = ("<think>", "</think>")) -> ThinkingCheck:
    """Assess one raw assistant turn produced with thinking on."""
    split = split_thinking(turn, tags)
    reasoning = split.reasoning or ""
    expected = script_counts(split.answer or reasoning).most_common(1)
    main_script = expected[0][0] if expected else "LATIN"
    foreign = sum(n for s, n in script_counts(reasoning).items() if s != main_script)
    return ThinkingCheck(
        well_formed=split.well_formed,
        has_reasoning=split.reasoning is not None,
        foreign_letters=foreign,
        junk=tuple(junk_tokens(reasoning)) if main_script == "LATIN" else (),
    )


def score_row(check: ThinkingCheck) -> dict[str, float]:
    return {"well_formed": float(check.well_formed), "intact": float(check.intact),
            "language_switch": float(check.language_switch), "junk": float(bool(check.junk))}


STATISTICS = {
    "well_formed": mean_of("well_formed"),
    "intact": mean_of("intact"),
    "language_switch": mean_of("language_switch"),
    "junk_tokens": mean_of("junk"),
}
"""Shares of replies: well-formed; well-formed and clean; with a script switch; with junk."""
