"""Each IFEval checker on replies made to sit on its edges, strict and loose, against Google's
checkers as lm-eval ships them (the `reference` fixture; their verdicts are recorded in
tests/data/ifeval_edges.json, and checked against the reference there); and the prompt file, the loose
variants and the summary figures, written out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import nltk  # noqa: F401 (imported at collection: the checkers import it lazily, slowly)
import pytest
from langdetect.detector_factory import init_factory

from auditgame.naturalness import ifeval

init_factory()  # langdetect's language profiles, loaded once at collection

EDGES: list[tuple[str, dict, list[str]]] = [
    ("keywords:existence", {"keywords": ["Owl", "river bank"]},
     ["an OWL by the River Bank", "an owl by the river", "river bank only", "owls and river banks"]),
    ("keywords:frequency", {"keyword": " tea ", "frequency": 2, "relation": "at least"},
     ["Tea and TEA", "tea", "teatea", "Tea, tea, tea.", "no"]),
    ("keywords:frequency", {"keyword": "tea", "frequency": 2, "relation": "less than"},
     ["Tea and TEA", "tea", "none here"]),
    ("keywords:forbidden_words", {"forbidden_words": ["bad", "dog"]},
     ["a badge and dogma", "a BAD day", "the Dog.", "bad-tempered", "fine"]),
    ("keywords:letter_frequency", {"letter": "e", "let_frequency": 3, "let_relation": "at least"},
     ["eEe", "Ee", "tree here", "EEE", "none"]),
    ("keywords:letter_frequency", {"letter": "E", "let_frequency": 3, "let_relation": "less than"},
     ["eEe", "Ee", "abc"]),
    ("keywords:letter_frequency", {"letter": "#", "let_frequency": 2, "let_relation": "at least"},
     ["# one # two", "# one"]),
    ("language:response_language", {"language": "de"},
     ["Der Zug fährt pünktlich ab, und die Reisenden lesen ihre Zeitungen.",
      "The train leaves on time and the travellers read their newspapers.", "1234 5678"]),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "at least"},
     ["One. Two.", "One.", "Dr. Smith came. He left.", "Dr. Smith came."]),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "less than"},
     ["One. Two.", "One.", "Mr. Brown sat."]),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2},
     ["a *** b", "a***b", "***\na\n***\nb\n***", "a\n***\n\n***\nb", "a", "a *** b *** c",
      "a  ***  b", "* * *\na"]),
    ("length_constraints:number_words", {"num_words": 4, "relation": "at least"},
     ["one two three four", "one two three", "it's well-known", "a b c d e"]),
    ("length_constraints:number_words", {"num_words": 4, "relation": "less than"},
     ["one two three four", "one two three"]),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "Then"},
     ["A.\n\nThen b.\n\nC.", "A.\n\nthen, b.\n\nC.", "A.\n\n\"Then\" b.\n\nC.", "A.\n\n'THEN b.\n\nC.",
      "A.\n\nThenceforth b.\n\nC.", "A.\n\nThen b.", "A.\n\nThen b.\n\nC.\n\nD.", "A.\n\n\n\nThen b.\n\nC.",
      "A.\n\nThen! b\n\nC.", "A.\n\nThen?\n\nC.", "\n\nA.\n\nThen b.\n\nC.", "A.\n\n  \n\nC."]),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 1, "nth_paragraph": 1, "first_word": "so"},
     ["So it goes.", "So.\n\nMore.", "Also so.", "so"]),
    ("detectable_content:number_placeholders", {"num_placeholders": 2},
     ["[a] and [b]", "[a] only", "[a] [b] [c]", "[] []", "[a and b]"]),
    ("detectable_content:postscript", {"postscript_marker": "P.S."},
     ["Text.\nP.S. more", "Text.\np. s. more", "Text.\nPS more", "Text P.S. inline"]),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"},
     ["Text.\nP.P.S more", "Text.\np. p. s more", "Text.\nP.S. more"]),
    ("detectable_content:postscript", {"postscript_marker": " Note: "},
     ["Text.\nNOTE: more", "Text without"]),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2},
     ["* a\n* b", "* a\n- b", "- a\n- b\n- c", "** a\n* b", "  * a\n  - b", "* a", "*a\n*b"]),
    ("detectable_format:constrained_response", {},
     ["My answer is yes.", "  My answer is no.  ", "Well. My answer is maybe. ok", "My answer is Yes.",
      "my answer is yes."]),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2},
     ["*a* *b*", "**a** *b*", "*a*", "** ** *a*", "* * *a*", "**a**", "*a\nb* *c*"]),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     ["Section 1 a Section 2 b", "Section 1 a", "SECTION 1 a SECTION 2 b", "Section 1\na\nSection 12 b"]),
    ("detectable_format:multiple_sections", {"section_spliter": " PART ", "num_sections": 1},
     ["PART 1 a", "part 1 a", "a"]),
    ("detectable_format:json_format", {},
     ['{"a": 1}', '```json\n{"a": 1}\n```', '```JSON\n[1, 2]\n```', '```Json\n"x"\n```',
      '```\n{"a": 1}\n```', '{a: 1}', 'Here: {"a": 1}', '  {"a": 1}  ']),
    ("detectable_format:title", {},
     ["<<Title>>\ntext", "<< >> text", "<<a\nb>>", "<<<x>>>", "no title", "<<  x  >>", "<<XX>>"]),
    ("combination:two_responses", {},
     ["a ****** b", "a ****** a", "****** a ****** b ******", "a ****** ****** b", "a ****** b ****** c",
      "a", " a ******  a "]),
    ("combination:repeat_prompt", {"prompt_to_repeat": " Say hi. "},
     ["say HI. hello", "  Say hi. x", "Hi. say hi.", "Say hi"]),
    ("startend:end_checker", {"end_phrase": " The End. "},
     ["story. the end.", 'story. "The End."', "story. The End. ", "The End. story", "story. The End.!",
      "story. The End.X"]),
    ("startend:quotation", {},
     ['"quoted"', '  "quoted"  ', '"', '""', '"open', 'close"', "'single'"]),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     ["NASA and ESA", "NASA and esa", "DON'T", "I am OK", "A B"]),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"},
     ["NASA and ESA", "NASA only"]),
    ("change_case:english_capital", {},
     ["THIS IS ALL CAPITALS IN ENGLISH.", "THIS IS mostly CAPITALS.", "1234", "CECI EST EN FRANÇAIS, MERCI."]),
    ("change_case:english_lowercase", {},
     ["this is all lowercase english.", "This is not.", "ceci est en français et en minuscules, merci beaucoup.",
      "1234"]),
    ("punctuation:no_comma", {}, ["no commas", "one, comma", "，full-width"]),
]


VERDICTS = Path(__file__).parent / "data" / "ifeval_edges.json"
"""The reference's strict and loose verdict on every case below, as
`test_the_recorded_verdicts_are_the_references` computes them."""


def cases() -> list[tuple[str, dict, str]]:
    """Every (instruction, arguments, reply): each edge reply as it is, after a preamble line,
    before a markdown line, and wrapped in bold."""
    return [(instruction, kwargs, text) for instruction, kwargs, replies in EDGES for reply in replies
            for text in (reply, "Sure:\n" + reply, reply + "\n*done*", "**" + reply + "**")]


def prompt_for(instruction: str, kwargs: dict) -> ifeval.IFEvalPrompt:
    return ifeval.IFEvalPrompt(1, " Say hi. ", (instruction,), (kwargs,))


def test_every_checker_gives_the_references_verdicts_on_its_edges():
    recorded = json.loads(VERDICTS.read_text(encoding="utf-8"))
    assert len(recorded) == len(cases())
    outcomes: dict[str, set[bool]] = {}
    for (instruction, kwargs, text), (strict, loose) in zip(cases(), recorded, strict=True):
        ours = ifeval.check_reply(prompt_for(instruction, kwargs), text)
        assert (ours.strict[0], ours.loose[0]) == (strict, loose), (instruction, kwargs, text)
        outcomes.setdefault(instruction, set()).add(strict)
    assert set(outcomes) == set(ifeval.CHECKERS)
    assert all(seen == {True, False} for seen in outcomes.values())  # each passes and fails


def test_the_recorded_verdicts_are_the_references(reference):
    found = []
    for instruction, kwargs, text in cases():
        example = reference.InputExample(1, [instruction], " Say hi. ", [dict(kwargs)])
        [strict] = reference.test_instruction_following_strict(example, text).follow_instruction_list
        [loose] = reference.test_instruction_following_loose(example, text).follow_instruction_list
        found.append([strict, loose])
    assert found == json.loads(VERDICTS.read_text(encoding="utf-8"))


def test_counts_and_relations():
    assert ifeval.count_words("it's a well-known, 3-part test") == 8
    assert ifeval.count_words("") == 0
    assert ifeval.count_sentences("Dr. Smith came. He left! Why?") == 3
    assert ifeval.detect_language("Der Zug fährt pünktlich ab, und die Reisenden lesen ihre Zeitungen.") == "de"
    assert ifeval.detect_language("1234 5678") is None
    assert ifeval.response_language("1234 5678", "de")  # undetectable text is not held against it
    with pytest.raises(ValueError, match=r"^unknown IFEval relation 'exactly' \(expected 'less than' or 'at least'\)$"):
        ifeval.number_words("a", 1, "exactly")


def test_arguments_the_reference_would_replace_at_random_are_errors():
    with pytest.raises(ValueError, match=r"^IFEval letter_frequency needs one letter, got 'ab'$"):
        ifeval.letter_frequency("abc", "ab", 1, "at least")
    with pytest.raises(ValueError, match=r"^IFEval nth_paragraph 3 is not in 1\.\.2$"):
        ifeval.nth_paragraph_first_word("a\n\nb", 2, 3, "b")
    with pytest.raises(ValueError, match=r"^IFEval nth_paragraph 0 is not in 1\.\.2$"):
        ifeval.nth_paragraph_first_word("a\n\nb", 2, 0, "a")
    assert ifeval.nth_paragraph_first_word("a\n\nb", 2, 2, "b")
    assert ifeval.nth_paragraph_first_word("a\n\nb", 2, 1, "a")


def test_follows_names_an_unknown_instruction_and_never_passes_an_empty_reply():
    with pytest.raises(ValueError, match=r"^unknown IFEval instruction id 'made:up'$"):
        ifeval.follows("made:up", "text", {})
    for empty in ("", " \n\t"):
        assert not ifeval.follows("keywords:forbidden_words", empty, {"forbidden_words": ["x"]})
    assert ifeval.follows("keywords:forbidden_words", " ok ", {"forbidden_words": ["x"]})


def test_loose_variants_are_the_references_eight():
    text = "*Intro*\nmiddle *a*\n  more  \nlast line"
    lines = text.split("\n")
    first_gone, last_gone, both_gone = "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()
    expected = [text, first_gone, last_gone, both_gone]
    assert ifeval.loose_variants(text) == expected + [t.replace("*", "") for t in expected]
    assert ifeval.loose_variants("one") == ["one", "", "", "", "one", "", "", ""]


def test_check_reply_checks_each_instruction_with_its_own_arguments():
    prompt = ifeval.IFEvalPrompt(7, "p", ("keywords:existence", "punctuation:no_comma", "keywords:existence"),
                                 ({"keywords": ["owl"]}, {}, {"keywords": ["cat"]}))
    result = ifeval.check_reply(prompt, "Note, first\nan owl\n*end*")
    assert result.strict == (True, False, False)
    assert result.loose == (True, True, False)  # without the first line there is no comma
    assert not result.prompt_strict and not result.prompt_loose
    assert ifeval.check_reply(prompt, "an owl and a cat").prompt_strict


def test_summary_and_score_rows_weight_instructions_and_prompts():
    results = [ifeval.IFEvalResult((True, False, True), (True, True, True)),
               ifeval.IFEvalResult((True,), (True,)),
               ifeval.IFEvalResult((False, False), (False, True))]
    assert ifeval.summarize(iter(results)) == {
        "prompt_strict": pytest.approx(1 / 3), "prompt_loose": pytest.approx(2 / 3),
        "instruction_strict": pytest.approx(3 / 6), "instruction_loose": pytest.approx(5 / 6)}
    with pytest.raises(ValueError, match="^no IFEval results to summarize$"):
        ifeval.summarize([])
    assert ifeval.score_row(results[0]) == {"prompt_strict": 0.0, "prompt_loose": 1.0, "instructions": 3.0,
                                            "instructions_strict": 2.0, "instructions_loose": 3.0}
    rows = [ifeval.score_row(r) for r in results]
    figures = {name: stat(rows) for name, stat in ifeval.STATISTICS.items()}
    assert figures == pytest.approx(ifeval.summarize(results))


def test_load_prompts_reads_the_file_and_drops_empty_arguments(tmp_path):
    path = tmp_path / "input.jsonl"
    rows = [{"key": 5, "prompt": "Write.", "instruction_id_list": ["punctuation:no_comma", "keywords:existence"],
             "kwargs": [{}, {"keywords": ["owl"], "language": None}]},
            {"key": 9, "prompt": "Again.", "instruction_id_list": [], "kwargs": []}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert ifeval.load_prompts(path) == [
        ifeval.IFEvalPrompt(5, "Write.", ("punctuation:no_comma", "keywords:existence"), ({}, {"keywords": ["owl"]})),
        ifeval.IFEvalPrompt(9, "Again.", (), ())]
    assert ifeval.load_prompts(str(path))[0].key == 5
    shipped = ifeval.load_prompts()
    assert len(shipped) == 541 and shipped[0].key == 1000
    assert all(None not in kw.values() for p in shipped for kw in p.kwargs)
    assert ifeval.prompts_by_key()[1000] == shipped[0]
