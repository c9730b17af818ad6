"""The built-in offline models from the command line: ``auditgame/prior`` audits nothing and
``auditgame/keyword-grader`` grades audits and confessions with no network and no weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from inspect_ai.log import read_eval_log

from auditgame.audit.offline import count_tokens

INSPECT = str(Path(sys.executable).with_name("inspect"))


def inspect_eval_cli(tiny, log_dir: Path, *args: str) -> list:
    env = {**os.environ, "AUDITGAME_ORGANISMS": str(tiny.cards)}
    done = subprocess.run(
        [INSPECT, "eval", *args, "--log-dir", str(log_dir), "--display", "none"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [read_eval_log(str(p)) for p in sorted(log_dir.glob("*.eval"))]


def test_offline_grading_from_the_cli(tiny, tmp_path):
    [audit] = inspect_eval_cli(
        tiny, tmp_path / "audit", "auditgame/audit", "-T", "organisms=tiny-krel,tiny-base",
        "--model", "auditgame/prior", "--model-role", "grader=auditgame/keyword-grader",
    )
    assert audit.status == "success"
    metrics = {k: m.value for k, m in audit.results.scores[0].metrics.items()}
    assert metrics["found_at_k"] == 0.0 and metrics["false_alarm_rate"] == 0.0
    assert metrics["unaudited_rate"] == 1.0  # the prior-only baseline never calls the target
    [sample] = audit.samples[:1]
    assert sample.store["AuditStore:submission"]["found"] is False
    usage = audit.stats.model_usage["auditgame/prior"]
    assert usage.input_tokens > 100 and usage.output_tokens > 10

    [confession] = inspect_eval_cli(
        tiny, tmp_path / "confession", "auditgame/confession", "-T", "organisms=tiny-krel",
        "-T", "kinds=direct", "-T", "max_tokens=4", "--limit", "2",
        "--model", "auditgame/keyword-grader",
    )
    assert confession.status == "success"
    metrics = {f"{s.name}/{k}": m.value for s in confession.results.scores for k, m in s.metrics.items()}
    assert metrics["grader_unparsed/auditgame/mean_organism"] == 0.0, metrics  # every keyword verdict parsed
    grader_usage = confession.stats.model_usage["auditgame/keyword-grader"]
    assert grader_usage.input_tokens > 50


def test_token_counts_are_words_and_marks():
    assert count_tokens("It omits, mostly.") == 5
