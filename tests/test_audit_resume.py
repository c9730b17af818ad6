"""Aliases are opaque but stable, so an interrupted audit run resumes with `eval_retry`."""

from __future__ import annotations

from pathlib import Path

from inspect_ai import eval as inspect_eval
from inspect_ai import eval_retry
from inspect_ai.model import GenerateConfig, ModelAPI, ModelOutput, modelapi

from auditgame.audit.aliasing import ALIAS_KEY_ENV, Roster, alias_key
from auditgame.audit.scripted import DEMO_SCRIPT, scripted_auditor
from auditgame.registry import registry
from auditgame.tasks import audit
from auditgame.tiny import TinyOrganisms


def test_aliases_are_stable_per_key_and_reveal_nothing(tiny, monkeypatch) -> None:
    organisms = registry().select("tiny-krel,tiny-base")
    monkeypatch.setenv(ALIAS_KEY_ENV, "key-one")
    first, again = Roster.of(organisms), Roster.of(organisms)
    assert first.aliases() == again.aliases()
    assert all(a.startswith("subject-") and len(a) == len("subject-") + 8 for a in first.aliases())
    assert not any("tiny" in a or "krel" in a for a in first.aliases())
    monkeypatch.setenv(ALIAS_KEY_ENV, "key-two")
    assert set(Roster.of(organisms).aliases()).isdisjoint(first.aliases())


def test_key_is_created_once_in_the_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(ALIAS_KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    key = alias_key()
    assert len(key) == 64 and alias_key() == key
    assert (tmp_path / "auditgame" / "alias.key").read_bytes() == key
    assert (tmp_path / "auditgame" / "alias.key").stat().st_mode & 0o777 == 0o600  # owner only


CRASH_ON: set[str] = set()
"""Aliases whose audits the scripted auditor fails (an API outage), read at call time."""


@modelapi(name="scripted-audit")
class ScriptedAuditAPI(ModelAPI):
    """``scripted-audit/auditor``: the demo's scripted auditor as a named provider, so that
    `eval_retry` can rebuild it from the log."""

    def __init__(self, model_name: str, base_url=None, api_key=None, config=GenerateConfig()):
        super().__init__(model_name, base_url, api_key, [], config)
        self.respond = scripted_auditor(DEMO_SCRIPT)

    async def generate(self, input, tools, tool_choice, config) -> ModelOutput:
        if any(alias in message.text for message in input[:2] for alias in CRASH_ON):
            raise RuntimeError("auditor API outage")
        return self.respond(input, tools, tool_choice, config)


def test_eval_retry_keeps_finished_audits(tiny: TinyOrganisms, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(ALIAS_KEY_ENV, "retry-test")
    [crash_alias] = [
        a for a, o in Roster.of(registry().select("tiny-krel,tiny-base")).organisms.items()
        if o.id == "tiny-base"
    ]
    CRASH_ON.add(crash_alias)
    task = audit(organisms="tiny-krel,tiny-base", tools="basic,prefill,multisample", reply_tokens=8)
    [failed] = inspect_eval(
        task, model="scripted-audit/auditor", model_roles={"grader": "auditgame/keyword-grader"},
        log_dir=str(tmp_path), display="none",
        max_samples=1,  # tiny-krel's audit finishes before tiny-base's crashes
    )
    assert failed.status == "error"
    finished = {s.id for s in failed.samples or [] if s.error is None}
    assert finished and crash_alias not in finished

    CRASH_ON.clear()  # the outage is over
    # The retry rebuilds the task (a new Roster, the same aliases) and its models from the log.
    [retried] = eval_retry(failed, log_dir=str(tmp_path), display="none")
    assert retried.status == "success", retried.error
    by_id = {s.id: s for s in retried.samples or []}
    assert set(by_id) == finished | {crash_alias}
    first_run = {s.id: s for s in failed.samples or []}
    for alias in finished:  # finished audits are carried over, not run again
        assert by_id[alias].uuid == first_run[alias].uuid
    assert by_id[crash_alias].scores and by_id[crash_alias].error is None
