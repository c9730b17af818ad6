"""IFEval checkers against the reference code on a built response corpus.

The reference is google-research ``instruction_following_eval`` as lm-eval-harness 0.4.13 ships
it (``lm_eval/tasks/ifeval/``: ``instructions.py``, ``instructions_util.py``, ``utils.py``), run
with NLTK's real English Punkt tables. lm-eval's copy is Google's 2024 ``instructions.py``; the
one change in Google's current file (2025) for the 25 IFEval types is that
``letter_frequency`` counts any single character it is given (keys 1122 and 1129 ask for "#"
and "!"), where the 2024 code replaced a non-letter with a random letter. The `reference`
fixture (tests/conftest.py) applies that change, so the comparison is with Google's current code. The corpus gives every one of the 541 prompts a few
replies built to sit near each instruction's threshold and full of the cases where a
tokenizer choice matters: abbreviations and initials, ellipses, headings, quotes after "!" and
"?", lowercase replies with sentence counts, slash compounds, inner apostrophes, CANNOT and
GONNA, markdown, postscripts, separators and foreign languages.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict

import pytest

from auditgame.naturalness import ifeval, punkt_data

SENTENCES = [
    "The river ran quietly past the old mill.",
    "Our team finished the report on time.",
    "Most people enjoy a warm cup of tea in the morning.",
    "The museum opens at nine and closes at five.",
    "Rain is expected later in the week.",
    "She planted tomatoes, beans and peppers in the garden.",
    "The committee will vote on the proposal tomorrow.",
    "Good planning saves a lot of trouble later.",
    "Dr. Smith arrived at 9 a.m. and left early.",
    "The U.S. team met the U.K. delegation in Geneva.",
    "J. R. R. Tolkien wrote The Hobbit.",
    "Prices rose 3.5% in Q2, e.g. for food and fuel.",
    "Wait... what happened next?",
    "And then\u2026 nothing at all.",
    'She said "Stop!" and walked away.',
    '"Really?" he asked.',
    "Is this real? yes it is.",
    "Wow! that was quick.",
    "Mr. and Mrs. Brown live on Elm St. near the park.",
    "It costs $4.50 (approx.) at the corner store.",
    "See Fig. 3 and Table 2 for details.",
    "The I/O bus and the CPU/GPU link run at 5 GHz.",
    "O'NEIL said he CANNOT come tonight.",
    "We're GONNA win, and they WANNA lose.",
    "The state-of-the-art model uses AI-DRIVEN tools.",
    "Version 2.0 was released on Jan. 5, 2024.",
    "The meeting is at 10 p.m. Please be on time.",
    "Ph.D. students often work late.",
    "He works for Acme Inc. in Boston.",
    "Use the e-mail address info@example.com for questions.",
    "Visit www.example.org for more.",
    "\u201cCurly quotes,\u201d she said. \u201cThey matter.\u201d",
    "It's 5 o'clock somewhere!",
    "The U.S.A. is a large country.",
    "Yes. No. Maybe.",
    "This line has no final punctuation",
    "Note: the results (see above) are preliminary!!",
    "Q: Why? A: Because.",
    "The value of pi is approx. 3.14159 -- a famous number.",
    "I love NASA's rockets -- DON'T you?",
]
HEADINGS = ["# A Short Guide", "## Summary", "**Key Points**", "Title: Notes", "<<A Day Out>>"]
CAPITAL_WORDS = ["I/O", "O'NEIL", "CANNOT", "GONNA", "WANNA", "GIMME", "NASA's", "DON'T", "U.S.",
                 "AI-DRIVEN", "A.I.", "OK", "R&D", "COVID-19", "PH.D.", "I'M", "WON'T", "US/UK",
                 "AT&T", "'TIS", "NOW!", "STATE-OF-THE-ART", "NOT--AT--ALL", "\u201cSTOP\u201d"]
FOREIGN = {
    "fr": "Le chat dort sur le canap\u00e9 pendant que la pluie tombe doucement sur la ville.",
    "es": "El perro corre por el parque mientras los ni\u00f1os juegan con la pelota roja.",
    "de": "Der Zug f\u00e4hrt p\u00fcnktlich ab, und die Reisenden lesen ihre Zeitungen.",
    "it": "La cena \u00e8 pronta e tutti si siedono intorno al tavolo della cucina.",
    "pt": "O menino brinca no jardim enquanto a m\u00e3e prepara o almo\u00e7o da fam\u00edlia.",
    "ru": "\u041c\u044b \u0438\u0434\u0451\u043c \u0434\u043e\u043c\u043e\u0439 \u043f\u043e\u0441\u043b\u0435 \u0434\u043b\u0438\u043d\u043d\u043e\u0433\u043e \u0434\u043d\u044f \u043d\u0430 \u0440\u0430\u0431\u043e\u0442\u0435.",
    "hi": "\u092e\u0948\u0902 \u0939\u0930 \u0938\u0941\u092c\u0939 \u092a\u093e\u0930\u094d\u0915 \u092e\u0947\u0902 \u091f\u0939\u0932\u0928\u0947 \u091c\u093e\u0924\u093e \u0939\u0942\u0901\u0964",
}
REPLIES_PER_PROMPT = 3
LANGDETECT = {"language:response_language", "change_case:english_capital", "change_case:english_lowercase"}
"""Prompts with these get one reply: langdetect takes most of the checking time."""


def near(target: int, rng: random.Random, spread: int = 2) -> int:
    return max(0, target + rng.randint(-spread, spread))


def sentences(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(SENTENCES) for _ in range(count))


def body_for(instruction: str, kw: dict, rng: random.Random, prompt: str) -> tuple[str, str, str]:
    """(before, body, after) pieces that put the reply near this instruction's threshold."""
    before = after = ""
    if instruction == "length_constraints:number_sentences":
        body = sentences(rng, near(kw["num_sentences"], rng))
    elif instruction == "length_constraints:number_words":
        words: list[str] = []
        target = near(kw["num_words"], rng, max(2, kw["num_words"] // 20))
        while len(" ".join(words).split()) < target:
            words.append(rng.choice(SENTENCES))
        body = " ".join(words)
    elif instruction == "length_constraints:number_paragraphs":
        count = near(kw["num_paragraphs"], rng, 1) or 1
        sep = rng.choice(["\n***\n", "\n\n***\n\n", " *** ", "***", "\n* * *\n"])
        paragraphs = [sentences(rng, rng.randint(1, 3)) for _ in range(count)]
        if rng.random() < 0.15:
            paragraphs.insert(rng.randint(0, len(paragraphs)), "")
        body = sep.join(paragraphs)
        if rng.random() < 0.2:
            body = "***\n" + body + "\n***"
    elif instruction == "length_constraints:nth_paragraph_first_word":
        count = near(kw["num_paragraphs"], rng, 1) or 1
        paragraphs = [sentences(rng, rng.randint(1, 3)) for _ in range(count)]
        word = kw["first_word"]
        start = rng.choice([word, word.capitalize() + ",", f'"{word}', f"'{word.upper()}",
                            f"**{word}**", word + "ing", "Then"])
        index = min(kw["nth_paragraph"], count) - 1
        paragraphs[index] = f"{start} {paragraphs[index]}"
        body = rng.choice(["\n\n", "\n\n\n", "\n \n"]).join(paragraphs)
    elif instruction == "detectable_content:number_placeholders":
        names = ["[name]", "[address]", "[ date ]", "[]", "[company name]"]
        body = " ".join(f"{rng.choice(SENTENCES)} {rng.choice(names)}"
                        for _ in range(near(kw["num_placeholders"], rng, 1)))
    elif instruction == "detectable_content:postscript":
        body = sentences(rng, 3)
        after = rng.choice(["P.S. See you soon.", "p.s. more later", "PS: bye", "P.P.S one more",
                            "P. P. S. really", "P.S no dot", "Postscript: none"])
    elif instruction == "detectable_format:number_bullet_lists":
        marks = ["* ", "- ", "*  ", "1. ", "** "]
        body = "\n".join(f"{rng.choice(marks)}{rng.choice(SENTENCES)}"
                         for _ in range(near(kw["num_bullets"], rng, 1)))
    elif instruction == "detectable_format:constrained_response":
        body = rng.choice(["My answer is yes.", "My answer is no.", "My answer is maybe.",
                           "My answer is Yes.", "my answer is no.", "Yes."])
    elif instruction == "detectable_format:number_highlighted_sections":
        marks = ["*{}*", "**{}**", "* {} *", "*{}", "**  **"]
        body = " ".join(rng.choice(marks).format(rng.choice(SENTENCES))
                        for _ in range(near(kw["num_highlights"], rng, 1)))
    elif instruction == "detectable_format:multiple_sections":
        spliter = kw["section_spliter"]
        names = [spliter, spliter.upper(), spliter.lower()]
        body = "\n".join(f"{rng.choice(names)} {i + 1}\n{sentences(rng, 2)}"
                         for i in range(near(kw["num_sections"], rng, 1)))
    elif instruction == "detectable_format:json_format":
        data = json.dumps({"answer": rng.choice(SENTENCES), "items": [1, 2]}, indent=rng.choice([None, 2]))
        body = rng.choice([data, f"```json\n{data}\n```", f"```JSON\n{data}\n```", f"```\n{data}\n```",
                           data[:-1], f"Here is the JSON:\n{data}"])
    elif instruction == "detectable_format:title":
        before = rng.choice(HEADINGS + ["<<  >>", "<<two\nlines>>", "<<Poem of Joy>>"])
        body = sentences(rng, 3)
    elif instruction == "combination:two_responses":
        first, second = sentences(rng, 2), sentences(rng, 2)
        body = rng.choice([f"{first}\n******\n{second}", f"{first}\n******\n{first}",
                           f"{first}\n******\n\n******\n{second}", f"******\n{first}\n******\n{second}\n******",
                           f"{first}\n*****\n{second}", f"{first}\n******\n{second}\n******\n{first}"])
    elif instruction == "combination:repeat_prompt":
        repeat = kw["prompt_to_repeat"]
        body = rng.choice([repeat, repeat.upper(), "Sure. " + repeat, repeat[:-5]]) + "\n" + sentences(rng, 2)
    elif instruction == "startend:end_checker":
        body = sentences(rng, 2)
        phrase = kw["end_phrase"]
        after = rng.choice([phrase, phrase.lower() + '"', phrase + " Thanks.", phrase.rstrip(".!?")])
    elif instruction == "change_case:capital_word_frequency":
        words = [rng.choice(CAPITAL_WORDS) for _ in range(near(kw["capital_frequency"], rng, 3))]
        body = " ".join(f"{w} {rng.choice(SENTENCES)}" for w in words) or sentences(rng, 2)
    elif instruction == "language:response_language":
        language = kw["language"]
        body = FOREIGN.get(language, sentences(rng, 2)) if rng.random() < 0.7 else sentences(rng, 2)
        if rng.random() < 0.3:
            body += " " + rng.choice(SENTENCES)
    elif instruction == "keywords:existence":
        body = " ".join(f"The {k} matters." for k in kw["keywords"] if rng.random() < 0.8)
        body += " " + sentences(rng, 2)
    elif instruction == "keywords:frequency":
        keyword = kw["keyword"]
        body = " ".join(f"{rng.choice([keyword, keyword.upper(), keyword + 's'])} is here."
                        for _ in range(near(kw["frequency"], rng, 1)))
    elif instruction == "keywords:forbidden_words":
        word = rng.choice(kw["forbidden_words"])
        body = sentences(rng, 2) + " " + rng.choice([f"The {word} was there.", f"A {word}ly thing.",
                                                      f"Not the {word.upper()}!", ""])
    elif instruction == "keywords:letter_frequency":
        letter = kw["letter"]
        body = sentences(rng, 1) + " " + " ".join(
            rng.choice([letter, letter.upper()]) * 2 for _ in range(near(kw["let_frequency"], rng, 2) // 2))
    else:  # case, comma and quotation instructions act on the whole reply below
        body = sentences(rng, rng.randint(1, 6))
    return before, body, after


def build_reply(prompt: ifeval.IFEvalPrompt, rng: random.Random) -> str:
    pieces = [body_for(i, kw, rng, prompt.prompt) for i, kw in zip(prompt.instruction_ids, prompt.kwargs)]
    before = "\n\n".join(p[0] for p in pieces if p[0])
    after = "\n".join(p[2] for p in pieces if p[2])
    body = "\n\n".join(p[1] for p in pieces)
    if rng.random() < 0.3:
        before = (rng.choice(HEADINGS) + "\n\n" + before).strip()
    reply = "\n\n".join(part for part in (before, body, after) if part)
    ids = set(prompt.instruction_ids)
    if "change_case:english_lowercase" in ids or rng.random() < 0.08:
        reply = reply.lower() if rng.random() < 0.85 else reply
    if "change_case:english_capital" in ids:
        reply = reply.upper() if rng.random() < 0.85 else reply.upper() + " ok"
    if "punctuation:no_comma" in ids and rng.random() < 0.7:
        reply = reply.replace(",", "")
    if "startend:quotation" in ids and rng.random() < 0.7:
        reply = f'"{reply}"'
    if rng.random() < 0.25:
        reply = rng.choice(["Sure, here is my answer:", "Here you go!", "**Answer**"]) + "\n" + reply
    if rng.random() < 0.15:
        reply += "\n" + rng.choice(["Hope this helps!", "*Any other questions?*", "---"])
    return reply


@pytest.fixture(scope="module")
def corpus() -> list[tuple[ifeval.IFEvalPrompt, str]]:
    rng = random.Random(20240611)
    return [(p, build_reply(p, rng)) for p in ifeval.load_prompts()
            for _ in range(1 if LANGDETECT & set(p.instruction_ids) else REPLIES_PER_PROMPT)]


def test_every_instruction_agrees_with_the_reference(corpus, reference):
    outcomes: dict[str, set[bool]] = defaultdict(set)
    disagreements, checked = [], 0
    for prompt, reply in corpus:
        example = reference.InputExample(prompt.key, list(prompt.instruction_ids), prompt.prompt,
                                         [dict(kw) for kw in prompt.kwargs])
        strict = reference.test_instruction_following_strict(example, reply).follow_instruction_list
        loose = reference.test_instruction_following_loose(example, reply).follow_instruction_list
        ours = ifeval.check_reply(prompt, reply)
        for index, instruction in enumerate(prompt.instruction_ids):
            checked += 1
            outcomes[instruction].add(strict[index])
            if (ours.strict[index], ours.loose[index]) != (strict[index], loose[index]):
                disagreements.append((prompt.key, instruction, reply[:120]))
    assert set(outcomes) == set(ifeval.CHECKERS)
    assert all(seen == {True, False} for seen in outcomes.values()), outcomes  # near thresholds
    assert checked > 2000
    assert not disagreements, f"{len(disagreements)}/{checked} disagree: {disagreements[:5]}"


def test_edge_cases_are_in_the_corpus(corpus):
    text = "\n".join(reply for _, reply in corpus)
    for case in ("Dr. Smith", "J. R. R.", "...", '"Stop!"', "I/O", "O'NEIL", "CANNOT", "GONNA",
                 "WANNA", "# A Short Guide", "P.P.S", "******", "```json"):
        assert case in text, case
    lowercase_counts = [r for p, r in corpus if "change_case:english_lowercase" in p.instruction_ids
                        and "length_constraints:number_sentences" in p.instruction_ids and r.islower()]
    assert lowercase_counts


def test_punkt_tables_reproduce_nltks_own_documented_output(tmp_path, monkeypatch):
    """Expected values from NLTK's tokenize.doctest, made with NLTK's downloaded punkt_tab."""
    import nltk

    monkeypatch.setenv(punkt_data.CACHE_ENV, str(tmp_path))  # written afresh
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))  # restored afterwards
    monkeypatch.setattr(punkt_data, "_ready", [])
    root = punkt_data.ensure_punkt_tab()
    assert root.parent == tmp_path
    folder = root / "tokenizers" / "punkt_tab" / "english"
    assert len((folder / "abbrev_types.txt").read_text().split("\n")) == 156
    assert len((folder / "ortho_context.tab").read_text().split("\n")) == 20366
    from punkt.data import english

    assert nltk.data.path[0] == str(root)
    params = nltk.tokenize.PunktTokenizer("english")._params  # what NLTK loads from the folder
    assert params.abbrev_types == set(english.ABBREV_TYPES)
    assert params.collocations == set(english.COLLOCATIONS)
    assert params.sent_starters == set(english.SENT_STARTERS)
    assert dict(params.ortho_context) == english.ORTHO_CONTEXT
    assert punkt_data.word_tokenize("I called Dr. Jones. I called Dr. Jones.") == [
        "I", "called", "Dr.", "Jones", ".", "I", "called", "Dr.", "Jones", "."]
    assert punkt_data.sent_tokenize("Hello! How are you?") == ["Hello!", "How are you?"]
