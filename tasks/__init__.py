"""Inspect tasks, exposed as ``auditgame/<task>`` (e.g. ``inspect eval auditgame/audit``)."""

from auditgame.tasks.audit import audit
from auditgame.tasks.confession import confession
from auditgame.tasks.grader_calibration import grader_calibration
from auditgame.tasks.ifeval import ifeval
from auditgame.tasks.leakage import leakage
from auditgame.tasks.mmlu import mmlu
from auditgame.tasks.perplexity import perplexity
from auditgame.tasks.preferences import preferences
from auditgame.tasks.severity import severity
from auditgame.tasks.thinking_integrity import thinking_integrity
from auditgame.tasks.xstest import xstest

__all__ = [
    "audit",
    "confession",
    "grader_calibration",
    "ifeval",
    "leakage",
    "mmlu",
    "perplexity",
    "preferences",
    "severity",
    "thinking_integrity",
    "xstest",
]
