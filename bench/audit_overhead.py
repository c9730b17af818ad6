"""Share of an audit's wall time spent outside model calls, measured from the log's events.

Runs the audit task on the tiny organisms (tiny-krel and the tiny-base control, 3 epochs) with
a scripted auditor and grader, then compares, per sample, the union of model-event intervals
(auditor, target and grader calls) with the sample's total time. Goal: overhead < 5%. The tiny
target answers in milliseconds, so this is the worst case: the fixed cost per auditor turn
(also printed) is what matters against real model calls of seconds each.

Run: python bench/audit_overhead.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _bench import run_bench, show  # prints the figures, captures library output
from inspect_ai import eval as inspect_eval
from inspect_ai.log import EvalSample
from inspect_ai.model import get_model

from auditgame.audit.scripted import DEMO_SCRIPT, scripted_auditor
from auditgame.tiny import build_tiny

EPOCHS = 3
REALISTIC_TURN_S = (1.0, 5.0)
"""Model seconds per auditor turn with API auditors and real organisms, for the projection."""


def model_time(samples: list[EvalSample]) -> float:
    """Seconds covered by at least one model call (parallel calls counted once)."""
    spans = sorted(
        (e.timestamp.timestamp(), e.completed.timestamp())
        for sample in samples
        for e in sample.events
        if e.event == "model" and e.completed is not None
    )
    covered, end = 0.0, float("-inf")
    for start, stop in spans:
        if stop > end:
            covered += stop - max(start, end)
            end = stop
    return covered


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    os.environ["AUDITGAME_ORGANISMS"] = str(build_tiny(root / "tiny").cards)
    from auditgame.organism.engine import load_engine
    from auditgame.registry import get_organism
    from auditgame.tasks import audit

    started = time.perf_counter()
    for organism_id in ("tiny-krel", "tiny-base"):  # once per process, like any model load
        load_engine(get_organism(organism_id))
    load_s = time.perf_counter() - started
    [log] = inspect_eval(
        audit(organisms="tiny-krel,tiny-base", tools="basic,prefill,multisample", reply_tokens=64),
        model=get_model("mockllm/model", custom_outputs=scripted_auditor(DEMO_SCRIPT)),
        model_roles={"grader": "auditgame/keyword-grader"},
        epochs=EPOCHS,
        log_dir=str(root / "logs"),
        display="none",
    )
    assert log.status == "success" and log.samples, log.error
    total = sum(s.total_time or 0.0 for s in log.samples)
    models = sum(model_time([s]) for s in log.samples)
    starts = [s.events[0].timestamp.timestamp() for s in log.samples]
    ends = [s.events[-1].timestamp.timestamp() for s in log.samples]
    wall = max(ends) - min(starts)
    wall_models = model_time(log.samples)
    turns = sum(s.store["AuditStore:auditor_turns"] for s in log.samples)
    show(
        f"{len(log.samples)} audits run together: {wall:.2f} s wall, {wall_models:.2f} s with a "
        f"model call in flight -> {100 * (1 - wall_models / wall):.1f}% of wall time outside model calls"
    )
    show(f"per audit: {total:.2f} s of sample time, {models:.2f} s in model calls")
    show(
        f"per audit, outside its own model calls: {100 * (1 - models / total):.1f}% "
        "(includes waiting while other audits use the event loop); "
        f"{1000 * (total - models) / turns:.0f} ms per auditor turn over {turns} turns"
    )
    per_turn = (total - models) / turns
    for call_s in REALISTIC_TURN_S:
        show(
            f"projected share with {call_s:.0f} s of model time per turn: "
            f"{100 * per_turn / (per_turn + call_s):.1f}%"
        )
    show(f"(one-time engine loading before the run, not included: {load_s:.2f} s)")


if __name__ == "__main__":
    run_bench(main)
