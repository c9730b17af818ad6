"""Thinking integrity on hand-counted turns: writing systems, junk tokens, the row it scores."""

from __future__ import annotations

import pytest

from auditgame.naturalness.stats import evaluate
from auditgame.naturalness.thinking import (
    STATISTICS,
    ThinkingCheck,
    check_turn,
    junk_tokens,
    score_row,
    script_of,
)

# one letter of each writing system told apart, named as the Unicode standard names its block
LETTERS = {
    "a": "LATIN", "É": "LATIN", "ж": "CYRILLIC", "λ": "GREEK", "ب": "ARABIC", "ש": "HEBREW",
    "漢": "CJK", "あ": "HIRAGANA", "カ": "KATAKANA", "한": "HANGUL", "क": "DEVANAGARI",
    "ก": "THAI", "ა": "OTHER", "Ա": "OTHER", "\U00017000": "OTHER",  # Georgian, Armenian, Tangut
}


@pytest.mark.parametrize(("char", "script"), LETTERS.items())
def test_each_letter_has_its_writing_system(char, script):
    assert script_of(char) == script


def test_digits_punctuation_and_spaces_have_no_writing_system():
    text = "7 .,!?-\n٣"
    assert [script_of(c) for c in text] == [None] * len(text)


@pytest.mark.parametrize(
    ("text", "junk"),
    [
        ("So nc the plan", ["nc"]),
        ("grr, Nc and ntw.", ["grr", "Nc", "ntw"]),
        ("NC and TV and NPM", []),  # upper case: acronyms
        ("Dr Smith, mr Jones, hmm, sql, 5 km", []),  # common abbreviations, any case
        ("sky, Ok, by, Yr, up", []),  # y and capital vowels are vowels
        ("b c bcdf xyzw", []),  # one letter, or four
        ("'nc nc' x_nc nc2 2nc", []),  # inside a word, an apostrophe or digits
        ("(nc) [bd]", ["nc", "bd"]),
    ],
)
def test_junk_tokens_are_short_latin_words_without_vowels(text, junk):
    assert junk_tokens(text) == junk


def test_a_clean_turn_and_a_turn_with_one_foreign_letter():
    clean = check_turn("<think>Plan the answer first.</think>The answer is 4.")
    assert clean == ThinkingCheck(True, True, 0, ())
    assert clean.intact and not clean.language_switch
    one = check_turn("<think>Plan ж first.</think>The answer is 4.")
    assert one.foreign_letters == 1 and one.language_switch and not one.intact


def test_the_answers_main_writing_system_decides_what_is_foreign():
    # Cyrillic answer: the Latin letters of the reasoning are foreign; no junk check off Latin
    turn = check_turn("<think>Думаю nc yes</think>Ответ: да")
    assert (turn.foreign_letters, turn.junk) == (5, ())
    # a mixed answer: the script with most letters (5 Cyrillic against 4 Latin)
    assert check_turn("<think>план plan</think>Ответ is ok").foreign_letters == 4
    assert check_turn("<think>план plan</think>Answer да").foreign_letters == 4
    # Japanese answer: kana and kanji are three scripts; all but the commonest are foreign
    assert check_turn("<think>かんじ漢字</think>ひらがな").foreign_letters == 2


def test_without_an_answer_the_reasoning_sets_the_writing_system():
    unclosed = check_turn("<think>кот и пёс")
    assert not unclosed.well_formed and unclosed.has_reasoning
    assert unclosed.foreign_letters == 0
    empty_answer = check_turn("<think>кот и пёс but</think>")
    assert not empty_answer.well_formed and empty_answer.foreign_letters == 3
    # no letters at all in the answer: Latin is assumed and junk is checked
    digits = check_turn("<think>so 12 nc</think>42")
    assert digits.well_formed and digits.foreign_letters == 0 and digits.junk == ("nc",)
    greek = check_turn("<think>λόγος nc</think>42")
    assert (greek.foreign_letters, greek.junk) == (5, ("nc",))


def test_a_turn_without_a_think_block_has_no_reasoning():
    plain = check_turn("The answer without thinking, nc.")
    assert plain == ThinkingCheck(False, False, 0, ())
    assert not plain.intact
    assert check_turn("Ответ без размышлений.") == ThinkingCheck(False, False, 0, ())


def test_other_think_tags():
    tags = ("<reasoning>", "</reasoning>")
    turn = check_turn("<reasoning>So nc.</reasoning>Fine.", tags)
    assert turn.well_formed and turn.has_reasoning and turn.junk == ("nc",)
    assert not check_turn("<reasoning>So nc.</reasoning>Fine.").has_reasoning


def test_a_check_scores_as_a_row_of_zero_one_outcomes():
    turns = [
        "<think>Plan the answer.</think>Four.",  # intact
        "<think>So nc the plan.</think>Fine.",  # junk
        "<think>We need 执法 here.</think>Fine.",  # language switch
        "No think block.",  # not well formed
    ]
    rows = [score_row(check_turn(t)) for t in turns]
    assert rows == [
        {"well_formed": 1.0, "intact": 1.0, "language_switch": 0.0, "junk": 0.0},
        {"well_formed": 1.0, "intact": 0.0, "language_switch": 0.0, "junk": 1.0},
        {"well_formed": 1.0, "intact": 0.0, "language_switch": 1.0, "junk": 0.0},
        {"well_formed": 0.0, "intact": 0.0, "language_switch": 0.0, "junk": 0.0},
    ]
    assert evaluate(STATISTICS, rows) == {
        "well_formed": 0.75, "intact": 0.25, "language_switch": 0.25, "junk_tokens": 0.25}
