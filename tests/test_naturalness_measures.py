"""Naturalness measures end to end on tiny organisms, and the pieces they are built from."""

import json
import math
import random

import pytest
import torch
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from auditgame.naturalness import mmlu, perplexity, thinking, xstest
from auditgame.naturalness.fried import fried
from auditgame.naturalness.measures import MEASURES, select
from auditgame.naturalness.runner import RunSettings
from auditgame.organism.engine import load_engine
from auditgame.registry import registry

QUICK_ARGS = {
    "ifeval": {"max_tokens": 12},
    "xstest": {"max_tokens": 12},
    "thinking_integrity": {"max_tokens": 12},
    "mmlu": {"shots": 1},
    "perplexity": {"window": 256},
    "preferences": {"bootstrap": 3, "rounds": 2},
    "leakage": {"max_tokens": 12, "samples": 1},
}


def test_fried_runs_every_measure_and_resumes(tiny, tmp_path):
    out = tmp_path / "fried"
    settings = RunSettings(limit=2, task_args=QUICK_ARGS, display="none")
    result = fried("tiny-krel", out, select(None), settings=settings)
    assert set(result.logs) == set(MEASURES) and not result.skipped
    report = json.loads(result.paths["json"].read_text())
    assert report["base"] == "tiny-base"
    measured = {(c["measure"], c["statistic"]) for c in report["comparisons"]}
    assert {("mmlu", "accuracy"), ("ifeval", "prompt_strict"), ("xstest", "over_refusal"),
            ("preferences", "decisiveness"), ("perplexity", "token_perplexity"),
            ("thinking_integrity", "well_formed"), ("leakage", "leak")} <= measured
    for c in report["comparisons"]:
        assert math.isclose(c["difference"], c["organism"] - c["base"])
    assert result.paths["chart"].stat().st_size > 1000
    assert "| preferences | decisiveness |" in result.paths["markdown"].read_text()
    logs_before = sorted(out.rglob("*.eval"))
    again = fried("tiny-krel", out, select("mmlu,perplexity"), settings=settings)
    assert sorted(out.rglob("*.eval")) == logs_before  # finished logs are reused
    assert again.logs["mmlu"] == result.logs["mmlu"]


def test_perplexity_equals_direct_forward_pass(tiny):
    engine = load_engine(registry().get("tiny-base"))
    text = perplexity.wikitext_documents()[0][:1500]
    tokens = engine.encode(text)
    prefix = engine.tokenizer.eos_token_id
    with torch.no_grad():
        ids = torch.tensor([[prefix, *tokens]])
        logprobs = engine.model(input_ids=ids).logits.float().log_softmax(-1)[0]
        direct = -float(logprobs[torch.arange(len(tokens)), torch.tensor(tokens)].sum())

    async def loss(window):
        return await perplexity.document_loss(engine, text, window)

    import asyncio

    whole = asyncio.run(loss(len(tokens) + 1))
    assert whole.tokens == len(tokens)
    assert whole.nll == pytest.approx(direct, rel=1e-5)
    windowed = asyncio.run(loss(64))  # several disjoint windows: less context, higher loss
    assert windowed.tokens == len(tokens) and windowed.nll > 0
    values = perplexity.perplexities([whole])
    assert values["token_perplexity"] == pytest.approx(math.exp(direct / len(tokens)))
    windows = list(perplexity.rolling_windows(list(range(10)), -1, 4))
    assert [c for _, c in windows] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    # as in lm-eval, a short last window is given as much earlier context as fits
    assert [ctx for ctx, _ in windows] == [[-1], [2], [5], [6, 7, 8]]
    assert all(len(ctx) + len(c) <= 4 for ctx, c in windows)


def test_wikitext_words_and_bytes_are_counted_on_the_raw_page(tiny, tmp_path):
    """lm-eval counts WikiText words and bytes before detokenization (the model reads the
    detokenized text)."""
    import re

    pages = perplexity.wikitext_pages()
    assert perplexity.wikitext_documents()[0] == perplexity.wikitext_detokenize(pages[0])
    [log] = inspect_eval("auditgame/perplexity", model="organism/tiny-base", limit=1,
                         task_args={"window": 512}, log_dir=str(tmp_path), display="none")
    [sample] = log.samples
    row = sample.scores["document_loss"].value
    page = pages[sample.metadata["document"]]
    assert row["words"] == len(re.split(r"\s+", page)) != perplexity.count_words(
        perplexity.wikitext_detokenize(page))
    assert row["bytes"] == len(page.encode("utf-8"))


def grader_outputs(verdict: str):
    return lambda *_call: ModelOutput.from_content("mockllm/model", verdict).model_copy(
        update={"usage": ModelUsage(input_tokens=5, output_tokens=3, total_tokens=8)})


def test_xstest_grader_rubric_and_string_match(tiny, tmp_path):
    grader = get_model("mockllm/model", custom_outputs=grader_outputs("3_partial_refusal"))
    [log] = inspect_eval("auditgame/xstest", model="organism/tiny-base", limit=2,
                         task_args={"max_tokens": 8}, model_roles={"grader": grader},
                         log_dir=str(tmp_path), display="none")
    assert log.status == "success"
    for sample in log.samples:
        score = sample.scores["xstest_refusal"]
        assert score.answer == "partial_refusal" and score.metadata["classifier"] == "grader"
        assert score.value["refused"] == 1.0 and score.value["complied"] == 0.0
    assert xstest.string_match_label("I'm sorry, I can't help.") == "full_refusal"
    assert xstest.string_match_label("Sure! Kill the process with kill -9.") == "full_compliance"
    assert xstest.parse_grader_label("CLASS: 2_full_refusal") == "full_refusal"
    assert xstest.parse_grader_label("unclear") is None
    prompts = xstest.load_prompts()
    assert sum(p.safe for p in prompts) == 250 and len(prompts) == 450


def test_xstest_empty_answers_are_not_counted_as_compliance(tmp_path):
    """A thinking model that runs out of tokens before answering neither complied nor refused."""
    from inspect_ai import task_with

    from auditgame.tasks import xstest as xstest_task

    assert xstest_task().config.max_tokens >= 2048  # room for a Qwen3 think block and the answer
    model = get_model("mockllm/model", custom_outputs=grader_outputs(""))
    [log] = inspect_eval(task_with(xstest_task(), name="xstest_empty"), model=model, limit=3,
                         log_dir=str(tmp_path), display="none")
    assert log.status == "success"
    for sample in log.samples:
        score = sample.scores["xstest_refusal"]
        assert score.metadata["classifier"] == "no answer"
        assert "refused" not in score.value and "complied" not in score.value
    assert "over_refusal" not in log.results.scores[0].metrics


def test_thinking_checks():
    clean = thinking.check_turn("<think>Plan the answer first.</think>The answer is 4.")
    assert clean.intact
    switched = thinking.check_turn("<think>We need 执法 here кол.</think>The answer is 4.")
    assert switched.well_formed and switched.language_switch and not switched.intact
    junk = thinking.check_turn("<think>So nc the plan is fine.</think>Fine.")
    assert junk.junk == ("nc",) and not junk.intact
    assert not thinking.check_turn("The answer without thinking.").well_formed
    assert not thinking.check_turn("<think>a</think>b<think>c</think>d").well_formed
    assert thinking.check_turn("<think>Ok Dr Smith.</think>Done.").intact


def test_mmlu_prompt_format():
    question = mmlu.load_split("anatomy", "test")[0]
    shots = mmlu.load_split("anatomy", "dev")[:2]
    text = mmlu.prompt(question, shots)
    assert text.startswith("The following are multiple choice questions (with answers) about anatomy.")
    assert text.count("Answer:") == 3 and text.endswith("Answer:")
    assert len(mmlu.subjects()) == 57
    assert mmlu.answer_letter("The answer is C.") == "C"
    # lm-eval strips the question (979 MMLU questions start with a space or end with a newline)
    padded = mmlu.Question("anatomy", 0, " Which bone?\n", ("a", "b", "c", "d"), 1)
    assert mmlu.format_question(padded, with_answer=True) == "Which bone?\nA. a\nB. b\nC. c\nD. d\nAnswer: B"
    with pytest.raises(ValueError, match="unknown MMLU subject"):
        mmlu.load_split("astrology", "test")


def test_api_paths_generate_answers(tmp_path):
    """Models without a local engine answer MMLU generatively and give sampled preferences."""
    model = get_model("mockllm/model", custom_outputs=grader_outputs("B"))
    logs = inspect_eval(
        ["auditgame/mmlu", "auditgame/preferences"], model=model, limit=2,
        task_args={"shots": 0, "items": 3, "samples": 2, "bootstrap": 0},
        log_dir=str(tmp_path), display="none",
    )
    assert [log.status for log in logs] == ["success", "success"]
    mmlu_log, prefs_log = logs
    assert all(s.scores["mmlu_choice"].answer == "B" for s in mmlu_log.samples)
    assert "Answer with the letter" in mmlu_log.samples[0].messages[0].text
    [sample] = prefs_log.samples
    assert len([e for e in sample.events if e.event == "model"]) == 3 * 2 * 2  # pairs x orders x samples
    assert all(p_a == 0.0 for _, _, p_a in sample.store["comparisons"])  # always answered "B"


def test_perplexities_divide_the_total_loss_by_each_unit():
    """The CLI's figures (`perplexities`) and the task's metric, from the scorer's rows."""
    from inspect_ai._util.registry import registry_info  # the metrics a scorer declares
    from inspect_ai.scorer import SampleScore, Score

    from auditgame.scoring.perplexity import document_loss

    losses = [perplexity.DocumentLoss(30.0, 10, 6, 40), perplexity.DocumentLoss(12.0, 5, 1, 2)]
    [task_metric] = registry_info(document_loss).metadata["metrics"]
    scores = [SampleScore(score=Score(value=perplexity.score_row(d)), sample_id=i)
              for i, d in enumerate(losses)]
    for found in (perplexity.perplexities(losses[::-1]), task_metric(scores)):
        assert found["token_perplexity"] == pytest.approx(math.exp(42 / 15))
        assert found["word_perplexity"] == pytest.approx(math.exp(42 / 7))
        assert found["byte_perplexity"] == pytest.approx(math.exp(42 / 42))
        assert found["bits_per_byte"] == pytest.approx(1 / math.log(2))


def test_perplexity_command_on_a_model_folder(tiny, tmp_path, capsys):
    from auditgame.cli import main

    text = tmp_path / "text.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 20, encoding="utf-8")
    assert main(["perplexity", "--model", str(tiny.base), "--text", str(text), "--window", "64"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["documents"] == 1 and out["window"] == 64
    assert out["byte_perplexity"] > 1 and out["token_perplexity"] > out["byte_perplexity"]


def test_unfinished_log_is_resumed(tiny, tmp_path, monkeypatch):
    from auditgame.naturalness import solvers
    from auditgame.naturalness.runner import run_measure

    card = registry().get("tiny-base")
    settings = RunSettings(limit=4, task_args={"mmlu": {"shots": 0}}, display="none")
    real_split = solvers._split
    calls = {"n": 0}

    def flaky(subject, split):
        calls["n"] += 1
        if split == "test" and calls["n"] == 3:
            raise RuntimeError("interrupted")
        return real_split(subject, split)

    monkeypatch.setattr(solvers, "_split", flaky)
    first, status = run_measure(tmp_path, card, MEASURES["mmlu"], settings)
    assert status == "error"
    monkeypatch.setattr(solvers, "_split", real_split)
    second, status = run_measure(tmp_path, card, MEASURES["mmlu"], settings)
    assert status == "success" and second != first
    from inspect_ai.log import read_eval_log

    assert len(read_eval_log(second).samples) == 4
    assert run_measure(tmp_path, card, MEASURES["mmlu"], settings) == (second, "success")


def test_report_verdicts_need_an_interval_that_excludes_zero():
    from auditgame.naturalness.report import Comparison

    def verdict(interval, higher_is_better):
        return Comparison("m", "s", 0.0, 0.0, 0.0, interval, higher_is_better, 500, 500).verdict

    assert verdict((0.0, 0.2), True) == verdict((-0.3, 0.0), False) == "no clear change"
    assert verdict((0.01, 0.2), True) == verdict((-0.2, -0.01), False) == "better"
    assert verdict((0.01, 0.2), False) == verdict((-0.2, -0.01), True) == "worse"
    assert verdict((0.1, 0.2), None) == "higher" and verdict((-0.2, -0.1), None) == "lower"
    assert verdict(None, True) == "n/a"


def test_bootstrap_difference_pairs_shared_samples():
    from auditgame.naturalness.stats import bootstrap_difference

    def mean(rows):
        return sum(r["value"] for r in rows) / len(rows) if rows else None

    rng = random.Random(5)
    base = {k: {"value": rng.uniform(0, 10)} for k in range(30)}
    shifted = {k: {"value": row["value"] + 1.0} for k, row in base.items()}
    # paired: every resample moves both runs together, so the difference is exactly 1
    assert bootstrap_difference(mean, shifted, base) == pytest.approx((1.0, 1.0))
    # unpaired (other sample ids): the spread of the values widens the interval around 1
    renamed = {k + 100: row for k, row in shifted.items()}
    low, high = bootstrap_difference(mean, renamed, base)
    assert low < 1.0 < high and high - low > 1.0
    assert -2.5 < low and high < 4.5  # within about three standard errors (sd 2.9, n 30)
