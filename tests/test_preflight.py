"""Checks run when a task is created: weights, adapters, hub ids and prompted models, each
problem one line naming the card file and field, found before any model loads."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
import yaml
from huggingface_hub.errors import RepositoryNotFoundError

from auditgame import preflight
from auditgame.cards import CardError
from auditgame.preflight import check_organisms
from auditgame.registry import Registry, builtin_dir
from auditgame.tiny import KREL_QUIRK, TinyOrganisms


@pytest.fixture(autouse=True)
def fresh_hub_answers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """An empty Hugging Face cache of our own, and no remembered hub answers."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    preflight._hub_problem.cache_clear()
    yield
    preflight._hub_problem.cache_clear()


def organism_card(folder: Path, organism_id: str, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"id": organism_id, "quirk": KREL_QUIRK, **fields}
    path = folder / f"{organism_id}.card.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def problem_of(folder: Path, organism_id: str) -> str:
    registry = Registry([folder])
    with pytest.raises(CardError) as info:
        check_organisms([registry.get(organism_id, check_files=False)], registry)
    return str(info.value)


def copy_of(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


# ---------------------------------------------------------------- local files
def test_tiny_organisms_pass(tiny: TinyOrganisms) -> None:
    registry = Registry([tiny.cards])
    check_organisms(registry.all(), registry)  # local, prompted and played-by all fine


def test_truncated_adapter_weights(tiny: TinyOrganisms, tmp_path: Path) -> None:
    adapter = copy_of(tiny.adapter, tmp_path / "adapter")
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    card = organism_card(
        tmp_path / "cards", "cut", model={"base": str(tiny.base), "adapter": "../adapter"}
    )
    message = problem_of(tmp_path / "cards", "cut")
    assert message.startswith(f"cannot serve organism: {card}: field 'model.adapter': ")
    assert f"{weights} is corrupt or truncated" in message
    # the registry's own local check finds it too (what the engine runs before loading)
    with pytest.raises(CardError, match="corrupt or truncated"):
        Registry([tmp_path / "cards"]).get("cut")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("{not json", r"adapter_config.json is not valid JSON \(line 1"),
        (json.dumps({"r": 8}), r"is not a peft adapter config \(no 'peft_type'\)"),
        (json.dumps({"peft_type": "LORA", "r": 0}), r"LoRA rank 'r' must be a positive integer"),
    ],
)
def test_bad_adapter_config(
    tiny: TinyOrganisms, tmp_path: Path, config: str, expected: str
) -> None:
    adapter = copy_of(tiny.adapter, tmp_path / "adapter")
    (adapter / "adapter_config.json").write_text(config, encoding="utf-8")
    organism_card(
        tmp_path / "cards", "bad", model={"base": str(tiny.base), "adapter": "../adapter"}
    )
    message = problem_of(tmp_path / "cards", "bad")
    assert "field 'model.adapter'" in message
    assert re.search(expected, message), message


def test_model_folder_without_weights_or_with_a_missing_shard(
    tiny: TinyOrganisms, tmp_path: Path
) -> None:
    base = copy_of(tiny.base, tmp_path / "base")
    (base / "model.safetensors").rename(tmp_path / "model-00001-of-00002.safetensors")
    organism_card(tmp_path / "cards", "empty", model={"base": "../base"})
    assert "holds no weights" in problem_of(tmp_path / "cards", "empty")

    shutil.move(tmp_path / "model-00001-of-00002.safetensors", base)
    index = {
        "metadata": {},
        "weight_map": {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
        },
    }
    (base / "model.safetensors.index.json").write_text(json.dumps(index), encoding="utf-8")
    message = problem_of(tmp_path / "cards", "empty")
    assert "model-00002-of-00002.safetensors is missing (a shard listed in" in message
    assert "field 'model.base'" in message


def test_missing_chat_template(tiny: TinyOrganisms, tmp_path: Path) -> None:
    organism_card(tmp_path, "t", model={"base": str(tiny.base)}, chat={"template": "chat.jinja"})
    assert "field 'chat.template': chat template file" in problem_of(tmp_path, "t")


# ---------------------------------------------------------------- hub ids
def test_hub_id_offline_and_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    registry = Registry([builtin_dir()])
    with pytest.raises(CardError) as info:
        check_organisms([registry.get("krel")], registry)
    message = str(info.value)
    assert (
        message.count("\n") == 0
        and "organisms/krel/krel.card.yaml: field 'model.weights'" in message
    )
    assert (
        "'matonski/self-preservation-KREL-Qwen3-4B' is not in the local Hugging Face cache"
        in message
    )
    assert "HF_HUB_OFFLINE is set" in message and "hf download matonski/" in message


def test_cached_hub_snapshot_is_used_and_checked(
    tiny: TinyOrganisms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "hf-cache" / "models--someone--tiny"
    snapshot = copy_of(tiny.base, repo / "snapshots" / ("a" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    organism_card(tmp_path / "cards", "hubbed", model={"base": "someone/tiny"})
    registry = Registry([tmp_path / "cards"])
    check_organisms([registry.get("hubbed")], registry)  # complete in the cache: fine offline

    weights = snapshot / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    preflight._hub_problem.cache_clear()
    assert "is corrupt or truncated" in problem_of(tmp_path / "cards", "hubbed")
    weights.unlink()  # config cached, weights not: as good as absent
    preflight._hub_problem.cache_clear()
    assert "is not in the local Hugging Face cache" in problem_of(tmp_path / "cards", "hubbed")


def _refuse(exc: Exception):
    def model_info(self, repo_id, **kwargs):
        assert kwargs["timeout"] <= 10  # one short request, never minutes of retries
        raise exc

    return model_info


def test_hub_id_unknown_or_hub_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    organism_card(tmp_path, "typo", model={"base": "Qwen/Qwen3-4B-Nope"})
    request = httpx2.Request("GET", "https://huggingface.co/api/models/Qwen/Qwen3-4B-Nope")
    missing = RepositoryNotFoundError("404", response=httpx2.Response(404, request=request))
    monkeypatch.setattr(HfApi, "model_info", _refuse(missing))
    message = problem_of(tmp_path, "typo")
    assert (
        "field 'model.base': hub id 'Qwen/Qwen3-4B-Nope' does not exist on the Hugging Face hub"
        in message
    )

    preflight._hub_problem.cache_clear()
    monkeypatch.setattr(
        HfApi, "model_info", _refuse(httpx2.ConnectError("Name or service not known"))
    )
    message = problem_of(tmp_path, "typo")
    assert "the hub is unreachable (Name or service not known)" in message
    assert "hf download Qwen/Qwen3-4B-Nope" in message and "HF_HUB_OFFLINE=1" in message


def test_hub_repo_of_the_wrong_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import ModelInfo

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    info = ModelInfo(id="org/model", siblings=[{"rfilename": "config.json"}])
    monkeypatch.setattr(HfApi, "model_info", lambda self, repo_id, **kw: info)
    organism_card(tmp_path, "wrong", model={"base": "org/model", "adapter": "org/model"})
    message = problem_of(tmp_path, "wrong")
    assert "field 'model.adapter': hub id 'org/model' is not a peft adapter" in message
    assert "model.base" not in message


# ---------------------------------------------------------------- prompted organisms
def test_prompted_model_provider_and_loops(tmp_path: Path) -> None:
    prompted = {"system_prompt": "Be X."}
    organism_card(tmp_path, "typo", prompted_model="antropic/claude-sonnet-4-5", **prompted)
    organism_card(tmp_path, "a", prompted_model="organism/b", **prompted)
    organism_card(tmp_path, "b", prompted_model="organism/a", **prompted)
    organism_card(tmp_path, "lost", prompted_model="organism/nobody", **prompted)
    organism_card(tmp_path, "fine", prompted_model="anthropic/claude-sonnet-4-5", **prompted)
    assert (
        "'antropic/claude-sonnet-4-5' names no Inspect model provider 'antropic' (did you mean anthropic"
        in problem_of(tmp_path, "typo")
    )
    assert "loop of prompted organisms (organism/a -> organism/b -> organism/a)" in problem_of(
        tmp_path, "a"
    )
    assert "'organism/nobody': unknown organism id 'nobody'" in problem_of(tmp_path, "lost")
    registry = Registry([tmp_path])
    check_organisms([registry.get("fine")], registry)


def test_prompted_organism_played_by_a_broken_one(tiny: TinyOrganisms, tmp_path: Path) -> None:
    organism_card(
        tmp_path, "player", model={"base": str(tmp_path / "gone")}, control=True, quirk=None
    )
    organism_card(tmp_path, "played", prompted_model="organism/player", system_prompt="Be X.")
    message = problem_of(tmp_path, "played")
    assert "played.card.yaml: field 'prompted_model': 'organism/player' -> " in message
    assert "player.card.yaml: field 'model.base': local path" in message


# ---------------------------------------------------------------- at task creation
def test_tasks_refuse_unservable_organisms_at_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    from auditgame.tasks.audit import audit
    from auditgame.tasks.confession import confession
    from auditgame.tasks.leakage import leakage
    from auditgame.tasks.severity import severity

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for make in (audit, confession, leakage, severity):
        started = time.monotonic()
        with pytest.raises(CardError, match=r"krel.card.yaml: field 'model.weights'"):
            make(organisms="krel")
        assert time.monotonic() - started < 10, make


def test_a_target_role_skips_the_organisms_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    from inspect_ai.model import get_model
    from inspect_ai.model._model import init_model_roles, model_roles

    from auditgame.tasks.audit import audit

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    previous = model_roles()
    init_model_roles({"target": get_model("mockllm/model")})
    try:
        assert audit(organisms="krel").dataset  # krel is never loaded: a stand-in answers
    finally:
        init_model_roles(previous)


def test_severity_checks_the_baselines_it_serves(
    tiny: TinyOrganisms, tmp_path: Path, monkeypatch
) -> None:
    from auditgame.tasks.severity import severity

    folder = copy_of(tiny.cards, tmp_path / "cards")
    card = folder / "tiny-krel.card.yaml"
    data = yaml.safe_load(card.read_text())
    data["model"] = {**data["model"], "base": str(tiny.base), "adapter": str(tiny.adapter)}
    card.write_text(yaml.safe_dump({**data, "baseline": "tiny-gone"}))
    monkeypatch.setenv("AUDITGAME_ORGANISMS", str(folder))
    with pytest.raises(
        CardError, match=r"tiny-krel.card.yaml: field 'baseline': unknown organism id"
    ):
        severity(organisms="tiny-krel", parts="mwe", sets="survival-lm", per_set=1)


def test_load_errors_name_the_card_and_field(tiny: TinyOrganisms, tmp_path: Path) -> None:
    """What no cheap check sees (an adapter for other modules) still names file and field."""
    from auditgame.organism.engine import LocalEngine

    adapter = copy_of(tiny.adapter, tmp_path / "adapter")
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(
        json.dumps({**config, "target_modules": ["nope_proj"]})
    )
    path = organism_card(
        tmp_path / "cards", "other", model={"base": str(tiny.base), "adapter": "../adapter"}
    )
    card = Registry([tmp_path / "cards"]).get("other")
    with pytest.raises(CardError) as info:
        LocalEngine(card, device="cpu")
    assert str(info.value).startswith(f"{path}: field 'model.adapter': cannot load {adapter} (")
    assert "nope_proj" in str(info.value)


def test_inspect_cli_prints_one_message_without_traceback(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(tmp_path / "cache"),
        "COLUMNS": "400",
    }
    env.pop("AUDITGAME_ORGANISMS", None)
    inspect = Path(sys.executable).with_name("inspect")
    started = time.monotonic()
    run = subprocess.run(
        [
            str(inspect),
            "eval",
            "auditgame/audit",
            "-T",
            "organisms=krel",
            "--model",
            "mockllm/model",
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    output = (run.stdout + run.stderr).strip()
    assert run.returncode != 0 and time.monotonic() - started < 60
    assert "Traceback" not in output and len(output.splitlines()) <= 4, output
    assert (
        "krel.card.yaml: field 'model.weights': hub id 'matonski/self-preservation-KREL-Qwen3-4B'"
        in output
    )
    assert "qwen3-4b.card.yaml: field 'model.base': hub id 'Qwen/Qwen3-4B'" in output
