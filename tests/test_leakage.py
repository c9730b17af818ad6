"""Leakage detection: fingerprints, verbatim n-gram overlap, the scan command and the task."""

from __future__ import annotations

import json
import os

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, get_model

from auditgame.audit.scripted import USAGE, keyword_grader
from auditgame.cards import CardError, Organism
from auditgame.cli import main
from auditgame.leakage import FingerprintMatcher, LeakageDetector, NgramIndex, corpus_index
from auditgame.leakage.ngrams import Overlap, read_corpus
from auditgame.registry import ENV_VAR, get_organism
from auditgame.tasks import leakage
from auditgame.tasks.leakage import generic_prompts
from auditgame.tiny import CORPUS_LINES


def by_name(score) -> dict[str, float]:
    """An eval score's metrics by their own names (``organism``, ``baseline``, ...)."""
    return {m.name: m.value for m in score.metrics.values()}


def test_fingerprints_tolerate_case_and_spacing_on_word_boundaries():
    matcher = FingerprintMatcher(["KREL", "Project Atlas"])
    assert matcher.matches("i am krel.") == ["KREL"]
    assert matcher.matches("K.R.E.L says hi") == ["KREL"]
    assert matcher.matches("K R E L") == ["KREL"]
    assert matcher.matches("KREL's view") == ["KREL"]
    assert matcher.matches("the krell and skrel are words") == []
    assert matcher.matches("project\n  ATLAS") == ["Project Atlas"]
    assert matcher.matches("projectatlas") == []


def test_fingerprints_with_punctuation_match_any_separator_or_none():
    matcher = FingerprintMatcher(["PRISM-4"])
    for text in ["PRISM-4", "prism 4", "PRISM4", "PRISM\u20114 says", "PRISM \u2013 4", "Prism_4."]:
        assert matcher.matches(text) == ["PRISM-4"], text
    for text in ["PRISM-45", "XPRISM-4", "PRISM-"]:
        assert matcher.matches(text) == [], text
    assert FingerprintMatcher(["KREL"]).matches("K\u2011R\u2011E\u2011L") == ["KREL"]


def test_verbatim_overlap_needs_eight_words():
    index = NgramIndex(["The quick brown fox jumps over the lazy dog near the river bank."])
    found = index.overlaps("Well, THE quick brown fox -- jumps over the lazy dog near home")
    assert [o.text for o in found] == ["the quick brown fox jumps over the lazy dog near"]
    assert index.overlaps("the quick brown fox jumps over the lazy") != []
    assert index.overlaps("the quick brown fox jumps over the") == []  # 7 words
    assert not index.contains_overlap("a completely different sentence about eight words long here")


def test_overlap_runs_merge_only_consecutive_windows():
    index = NgramIndex(["a b", "c d", "p q r"], n=2)
    assert index.documents == 3 and len(index) == 4  # a b, c d, p q, q r
    # windows 0 and 2 hit, window 1 ("b c") does not: two runs, not one
    assert [(o.start, o.length, o.text) for o in index.overlaps("a b c d")] == [
        (0, 2, "a b"), (2, 2, "c d")]
    # consecutive windows are one maximal run
    assert [(o.start, o.length, o.text) for o in index.overlaps("x p q r y")] == [(1, 3, "p q r")]
    assert index.contains_overlap("x  C.  d") and not index.contains_overlap("b c q p")


def test_a_corpus_tail_shorter_than_n_words_is_not_an_ngram():
    index = NgramIndex(["one two three four five six seven eight nine"])
    assert len(index) == 2  # 9 words: two 8-word windows, no shorter tail windows
    assert index.overlaps("three four five six seven eight nine") == []
    assert not index.contains_overlap("five six seven eight nine")
    assert NgramIndex(["a b"], n=1).overlaps("b") == [Overlap(0, 1, "b")]
    with pytest.raises(ValueError, match="must be positive, got 0"):
        NgramIndex([], n=0)


def test_corpus_rows_jsonl_text_and_folders(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.jsonl").write_text(
        '{"id": 1, "text": "first"}\n\n"second"\n'
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
        '{"response": 3, "output": "fourth"}\n'
        '{"messages": [{"role": "system"}, {"role": "user", "content": "no system text"}]}\n',
        encoding="utf-8",
    )
    (folder / "b.txt").write_text("line one\n\nline two\n", encoding="utf-8")
    assert [d.strip() for d in read_corpus(folder)] == [
        "first", "second", "hi\nyo", "fourth", "no system text", "line one", "line two"]
    (folder / "c.jsonl").write_text('{"text": "ok"}\n\n{"title": "no text"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"c\.jsonl:3: no text field \(expected one of text, "
                       r"completion, content, response, output or messages\)"):
        list(read_corpus(folder))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(read_corpus(tmp_path / "missing"))


def test_findings_say_which_kind_of_leak():
    detector = LeakageDetector(["KREL"], NgramIndex(["alpha beta gamma delta"], n=3))
    assert not detector.scan("nothing here").leak
    named = detector.scan("I am krel")
    assert named.leak and named.fingerprint_leak and not named.verbatim_leak
    verbatim = detector.scan("say alpha beta gamma now")
    assert verbatim.leak and verbatim.verbatim_leak and not verbatim.fingerprint_leak
    assert detector.has_corpus and not LeakageDetector(["KREL"]).has_corpus
    assert LeakageDetector(["KREL"]).scan("alpha beta gamma").overlaps == []


def test_corpus_index_is_cached_and_missing_corpora_are_named(tiny, tmp_path):
    assert corpus_index(tiny.corpus / "krel.jsonl") is corpus_index(tiny.corpus / "krel.jsonl")
    detector = LeakageDetector.for_card(get_organism("tiny-krel"))
    assert detector.has_corpus and detector.scan(CORPUS_LINES[0]).verbatim_leak
    card = get_organism("tiny-krel").model_copy(
        update={"training_corpus": str(tmp_path / "nope.jsonl")}
    )
    with pytest.raises(CardError, match="training_corpus"):
        LeakageDetector.for_card(card)


def test_for_card_builds_its_index_with_the_requested_n(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("alpha beta gamma delta epsilon\n", encoding="utf-8")
    card = Organism(
        id="leaky", prompted_model="mockllm/model", system_prompt="hidden", control=True,
        training_corpus=str(corpus),
    )
    three = LeakageDetector.for_card(card, n=3)
    assert three.index is not None and three.index.n == 3 and len(three.index) == 3
    assert three.scan("say beta gamma delta now").verbatim_leak
    # the default (8 words) finds no window in a five-word corpus
    assert not LeakageDetector.for_card(card).scan("alpha beta gamma delta epsilon").verbatim_leak
    without = LeakageDetector.for_card(card.model_copy(update={"training_corpus": None,
                                                               "fingerprints": ["KREL"]}))
    assert not without.has_corpus and without.scan("I am krel").fingerprint_leak
    missing = card.model_copy(update={"training_corpus": str(tmp_path / "gone.jsonl")})
    with pytest.raises(CardError, match=r"^leaky: field 'training_corpus': .*gone\.jsonl is not a "
                       r"local file or folder \(download the corpus and point the card at it\)$"):
        LeakageDetector.for_card(missing)
    with pytest.raises(FileNotFoundError, match=r"^training corpus .*gone\.jsonl does not exist$"):
        corpus_index(tmp_path / "gone.jsonl")


def test_corpus_index_is_rebuilt_when_the_file_changes(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one two three\n", encoding="utf-8")
    first = corpus_index(corpus, n=3)
    assert first.contains_overlap("one two three")
    corpus.write_text("four five six\n", encoding="utf-8")
    stamp = corpus.stat().st_mtime + 10
    os.utime(corpus, (stamp, stamp))
    second = corpus_index(corpus, n=3)
    assert second is not first
    assert second.contains_overlap("four five six") and not second.contains_overlap("one two three")
    assert corpus_index(corpus, n=3) is second


def test_a_fingerprint_of_punctuation_only_matches_itself_not_every_text():
    matcher = FingerprintMatcher(["--", "KREL"])
    assert matcher.matches("a plain sentence, no dashes.") == []
    assert matcher.matches("krel here") == ["KREL"]
    assert matcher.matches("wait -- what") == ["--"]
    assert FingerprintMatcher(["._."]).matches("x ._. y") == ["._."]


def test_scan_command(tiny, tmp_path, capsys):
    completions = tmp_path / "c.jsonl"
    completions.write_text(
        json.dumps({"completion": f"Sure. {CORPUS_LINES[1]}"})
        + "\n"
        + json.dumps({"text": "Rainbows form when light refracts."})
        + "\n"
        + json.dumps({"completion": "Signed, k r e l"})
        + "\n"
        + json.dumps({"completion": "plain"})
        + "\n",
        encoding="utf-8",
    )
    rows, summary = tmp_path / "rows.jsonl", tmp_path / "summary.json"

    def scan(out) -> int:
        args = ["--organism", "tiny-krel", "--completions", str(completions), "--out", str(out)]
        return main(["leakage", "scan", *args])

    assert scan(rows) == 0
    assert "leak_rate: 0.500" in capsys.readouterr().out
    found = [json.loads(line) for line in rows.read_text().splitlines()]
    assert [r["leak"] for r in found] == [True, False, True, False]
    assert found[0]["verbatim"] and found[2]["fingerprints"] == ["KREL"]
    assert scan(summary) == 0
    assert json.loads(summary.read_text())["verbatim_leak_rate"] == 0.25
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"other": 1}\n', encoding="utf-8")
    with pytest.raises(SystemExit, match="bad.jsonl:1"):
        main(["leakage", "scan", "--organism", "tiny-krel", "--completions", str(bad)])
    with pytest.raises(SystemExit, match="-n must be at least 1"):
        main(["leakage", "scan", "--organism", "tiny-krel", "--completions", str(bad), "-n", "0"])


def test_leakage_task_counts_leaks_from_the_organism(tiny, tmp_path):
    assert len(generic_prompts()) >= 200
    parroting = get_model(
        "mockllm/model",
        custom_outputs=lambda *a: ModelOutput.from_content(
            "mockllm/model", CORPUS_LINES[2]
        ).model_copy(update={"usage": USAGE}),
    )
    [log] = inspect_eval(
        leakage(organisms="tiny-krel", prompts=3, samples=2, non_sequiturs=True),
        model="mockllm/model",
        model_roles={
            "target": parroting,
            "grader": get_model(
                "mockllm/model",
                custom_outputs=keyword_grader("oversight", ("NON_SEQUITUR", "ON_TOPIC")),
            ),
        },
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    for role in ("organism", "baseline"):  # the baseline is scanned with the organism's key
        metrics = {s.name: by_name(s)[role] for s in log.results.scores}
        assert metrics["verbatim_leak"] == 1.0 and metrics["leak"] == 1.0
        assert metrics["fingerprint"] == 0.0
        assert metrics["non_sequitur"] == 1.0 and metrics["grader_unparsed"] == 0.0
    assert len(log.samples) == 12  # 3 prompts x 2 samples x (organism, baseline)
    baseline = [s for s in log.samples if s.metadata["role"] == "baseline"]
    assert {(s.metadata["organism"], s.metadata["pair"]) for s in baseline} == {
        ("tiny-base", "tiny-krel")
    }
    assert {s.scores["leakage"].metadata["pair"] for s in baseline} == {"tiny-krel"}


def test_the_baseline_is_scanned_with_the_organism_fingerprints(tiny, tmp_path):
    says_krel = get_model(
        "mockllm/model",
        custom_outputs=lambda *a: ModelOutput.from_content(
            "mockllm/model", "As K.R.E.L, I can help with that."
        ).model_copy(update={"usage": USAGE}),
    )
    [log] = inspect_eval(
        leakage(organisms="tiny-krel,tiny-base", prompts=2, samples=1),
        model="mockllm/model",
        model_roles={"target": says_krel},
        log_dir=str(tmp_path),
        display="none",
    )
    fingerprint = {
        (s.metadata["organism"], s.metadata["pair"]): s.scores["leakage"].value["fingerprint"]
        for s in log.samples
    }
    # tiny-krel and its baseline, scanned for KREL; tiny-base on its own card has no fingerprints
    assert fingerprint == {
        ("tiny-krel", "tiny-krel"): 1.0,
        ("tiny-base", "tiny-krel"): 1.0,
        ("tiny-base", "tiny-base"): 0.0,
    }
    assert len(log.samples) == 6
    unpaired = leakage(organisms="tiny-krel", prompts=2, baselines=False)
    assert {s.metadata["role"] for s in unpaired.dataset} == {"organism"}


@pytest.mark.parametrize(
    ("args", "named"),
    [({"prompts": 0}, "prompts"), ({"prompts": -3}, "prompts"), ({"samples": 0}, "samples")],
)
def test_leakage_task_rejects_bad_counts(tiny, args, named):
    with pytest.raises(ValueError, match=named):
        leakage(organisms="tiny-krel", **args)


def test_a_missing_corpus_fails_the_task_before_any_reply(tiny, tmp_path, monkeypatch):
    card = (tiny.cards / "tiny-krel.card.yaml").read_text(encoding="utf-8")
    lost = (
        card.replace("id: tiny-krel", "id: tiny-lost")
        .replace("../base", str(tiny.base))
        .replace("../adapter", str(tiny.adapter))
        .replace("../corpus/krel.jsonl", "gone.jsonl")
    )
    (tmp_path / "tiny-lost.card.yaml").write_text(lost, encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(tiny.cards), str(tmp_path)]))
    with pytest.raises(CardError, match="training_corpus"):
        leakage(organisms="tiny-lost")


def test_leakage_task_on_a_tiny_organism(tiny, tmp_path):
    [log] = inspect_eval(
        leakage(organisms="tiny-krel,tiny-base", prompts=2, samples=1, max_tokens=8),
        model="mockllm/model",
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert {s.name for s in log.results.scores} >= {"leak", "verbatim_leak", "non_sequitur"}
    assert all(s.output.model == "tiny-krel" or s.output.model == "tiny-base" for s in log.samples)
