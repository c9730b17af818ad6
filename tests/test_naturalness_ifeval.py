"""IFEval checkers: every instruction type on hand-made passing and failing replies."""

import json

import pytest

from auditgame.cli import main
from auditgame.naturalness import ifeval

CASES = [
    ("keywords:existence", {"keywords": ["owl", "river"]},
     "An owl sat by the river.", "An owl sat by the lake."),
    ("keywords:frequency", {"keyword": "tea", "frequency": 3, "relation": "at least"},
     "Tea, tea and more tea.", "Tea and coffee."),
    ("keywords:frequency", {"keyword": "tea", "frequency": 2, "relation": "less than"},
     "Just tea.", "Tea and tea."),
    ("keywords:forbidden_words", {"forbidden_words": ["bad", "awful"]},
     "A badge is fine.", "This is awful."),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 3, "let_relation": "at least"},
     "Zany zebras zigzag.", "Zany cats."),
    ("language:response_language", {"language": "fr"},
     "Bonjour, je suis très content de vous voir aujourd'hui, merci beaucoup.",
     "Hello, I am very happy to see you today, thank you very much."),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "One sentence. Two sentences.", "One. Two. Three. Four."),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2},
     "First part.\n***\nSecond part.", "First part.\n***\n***\nSecond part."),
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"},
     "one two three four five six", "one two three"),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "First we wait.\n\nThen, we go.", "First we wait.\n\nNow we go."),
    ("detectable_content:number_placeholders", {"num_placeholders": 2},
     "Dear [name], at [address].", "Dear [name], hello."),
    ("detectable_content:postscript", {"postscript_marker": "P.S."},
     "Main text.\nP.S. see you", "Main text without a note."),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"},
     "Main text.\nP.P.S more", "Main text.\nP.S. more"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2},
     "* apples\n* pears", "* apples\n* pears\n- plums"),
    ("detectable_format:constrained_response", {},
     "My answer is yes.", "Yes, definitely."),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2},
     "*first* and **second**", "*first* only"),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     "Section 1\nintro\nSection 2\nend", "Section 1\nall in one"),
    ("detectable_format:json_format", {},
     '```json\n{"a": 1}\n```', "{a: 1}"),
    ("detectable_format:title", {},
     "<<My Poem>>\nRoses are red.", "My Poem\nRoses are red."),
    ("combination:two_responses", {},
     "First answer.\n******\nSecond answer.", "Same.\n******\nSame."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a haiku."},
     "Write a haiku. Leaves fall softly now.", "Leaves fall softly now."),
    ("startend:end_checker", {"end_phrase": "Any other questions?"},
     "Done here. Any other questions?", "Any other questions? Done here."),
    ("startend:quotation", {},
     '"All wrapped in quotes."', 'Not "wrapped".'),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "The NASA and ESA teams.", "The NASA team."),
    ("change_case:english_capital", {},
     "THIS IS ALL IN CAPITAL LETTERS AND ENGLISH WORDS.", "This is not all capitals."),
    ("change_case:english_lowercase", {},
     "this reply is written entirely in lowercase english words.", "This Has Capitals."),
    ("punctuation:no_comma", {}, "No commas here.", "Commas, here."),
]


def test_every_instruction_type_is_covered():
    assert {c[0] for c in CASES} == set(ifeval.CHECKERS)
    assert len(ifeval.CHECKERS) == 25


@pytest.mark.parametrize("instruction, kwargs, passing, failing", CASES)
def test_checker_passes_and_fails(instruction, kwargs, passing, failing):
    assert ifeval.follows(instruction, passing, kwargs)
    assert not ifeval.follows(instruction, failing, kwargs)


def test_capital_words_split_off_clitics_as_nltk_word_tokenize_does():
    """nltk: "NASA's" -> "NASA", "'s"; "DON'T" -> "DO", "N'T"; hyphenated words stay whole."""
    counts = {"NASA's budget": 1, "DON'T STOP": 3, "I'M HERE": 3, "AI-DRIVEN tools": 1, "U.S. policy": 1}
    for text, expected in counts.items():
        at_least = {"capital_frequency": expected, "capital_relation": "at least"}
        less_than = {"capital_frequency": expected + 1, "capital_relation": "less than"}
        assert ifeval.follows("change_case:capital_word_frequency", text, at_least), text
        assert ifeval.follows("change_case:capital_word_frequency", text, less_than), text


def test_loose_forgives_markdown_and_a_preamble_line():
    prompt = ifeval.IFEvalPrompt(1, "p", ("startend:quotation",), ({},))
    reply = 'Sure, here it is:\n"quoted answer"'
    result = ifeval.check_reply(prompt, reply)
    assert result.strict == (False,) and result.loose == (True,)
    assert not ifeval.follows("punctuation:no_comma", "   ", {})  # empty replies never pass


def test_real_prompts_and_summary():
    prompts = ifeval.load_prompts()
    assert len(prompts) == 541
    assert {i for p in prompts for i in p.instruction_ids} == set(ifeval.CHECKERS)
    first = prompts[1]  # key 1001: no commas
    good = ifeval.check_reply(first, "A plan in Shakespearean style without any commas at all.")
    bad = ifeval.check_reply(first, "Thou shalt go, and then, return.")
    summary = ifeval.summarize([good, bad])
    assert summary["prompt_strict"] == 0.5 and summary["instruction_loose"] == 0.5


def test_check_command(tmp_path, capsys):
    rows = tmp_path / "replies.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in [
        {"key": 1001, "response": "No commas at all here."},
        {"key": 1001, "response": "Commas, everywhere, here."},
    ]), encoding="utf-8")
    assert main(["ifeval", "check", str(rows)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["prompts"] == 2 and out["prompt_strict"] == 0.5
    rows.write_text('{"key": 1}\n', encoding="utf-8")
    with pytest.raises(SystemExit, match="replies.jsonl:1"):
        main(["ifeval", "check", str(rows)])
    rows.write_text('{"key": 1001, "response": "Fine."}\n{"key": 1001, "response": null}\n', encoding="utf-8")
    with pytest.raises(SystemExit, match="replies.jsonl:2"):
        main(["ifeval", "check", str(rows)])


def test_thresholds_are_inclusive_for_at_least_and_exclusive_for_less_than():
    # five a's, two of them capitals: counted without regard to case, letter given in either case
    text = "A cat sat. Always."
    for letter in ("a", "A"):
        assert ifeval.letter_frequency(text, letter, 5, "at least")
        assert ifeval.letter_frequency(text, letter, 4, "at least")  # more than N is at least N
        assert not ifeval.letter_frequency(text, letter, 6, "at least")
        assert not ifeval.letter_frequency(text, letter, 5, "less than")
        assert ifeval.letter_frequency(text, letter, 6, "less than")
    assert ifeval.frequency("Tea, TEA and tea.", "tea", 3, "at least")
    assert ifeval.frequency("Tea, TEA and tea.", "tea", 2, "at least")
    assert not ifeval.frequency("Tea, TEA and tea.", "tea", 4, "at least")
    assert not ifeval.frequency("Tea, TEA and tea.", "tea", 3, "less than")
    assert ifeval.capital_word_frequency("THE CAT ran HOME", 3, "at least")
    assert not ifeval.capital_word_frequency("THE CAT ran HOME", 3, "less than")
    assert not ifeval.capital_word_frequency("THE CAT ran HOME", 4, "at least")
    with pytest.raises(ValueError, match="unknown IFEval relation 'exactly'"):
        ifeval.frequency("tea", "tea", 1, "exactly")
