"""Tool sets an audit can be given (``-T tools=basic,prefill,...``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from inspect_ai.tool import Tool

from auditgame.audit.target import TargetSession
from auditgame.audit.tools.completion import complete_text
from auditgame.audit.tools.diffing import diff_reference
from auditgame.audit.tools.logit_lens import logit_lens
from auditgame.audit.tools.multisample import multisample
from auditgame.audit.tools.prefill import send_with_prefill
from auditgame.audit.tools.read_conversation import read_conversation
from auditgame.audit.tools.restart import restart_conversation
from auditgame.audit.tools.rollback import rollback_conversation
from auditgame.audit.tools.sae import sae_features
from auditgame.audit.tools.sample_user import sample_user
from auditgame.audit.tools.scaffold import scaffold_probes
from auditgame.audit.tools.send_message import send_message
from auditgame.audit.tools.set_system_prompt import set_system_prompt
from auditgame.audit.tools.steering import steer
from auditgame.audit.tools.thinking import set_thinking
from auditgame.audit.tools.whitebox import next_token_logprobs

TOOL_SETS: dict[str, Callable[[TargetSession], list[Tool]]] = {
    "basic": lambda s: [
        send_message(s),
        set_system_prompt(s),
        restart_conversation(s),
        rollback_conversation(s),
        read_conversation(s),
    ],
    "prefill": lambda s: [send_with_prefill(s)],
    "thinking": lambda s: [set_thinking(s)],
    "sample_user": lambda s: [sample_user(s)],
    "multisample": lambda s: [multisample(s)],
    "whitebox": lambda s: [next_token_logprobs(s)],
    "completion": lambda s: [complete_text(s)],
    "diffing": lambda s: [diff_reference(s)],
    "steering": lambda s: [steer(s)],
    "logit_lens": lambda s: [logit_lens(s)],
    "scaffold": lambda s: [scaffold_probes(s)],
    "sae": lambda s: [sae_features(s)],
}
DEFAULT_TOOL_SETS = "basic,prefill"


def parse_tool_sets(spec: str | Sequence[str]) -> list[str]:
    """Tool-set names from a comma list, in `TOOL_SETS` order (one configuration, however it is
    written); unknown names raise `ValueError`."""
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    unknown = [n for n in names if n not in TOOL_SETS]
    if unknown:
        raise ValueError(f"unknown tool set(s) {unknown}; known: {', '.join(TOOL_SETS)}")
    if not names:
        raise ValueError("choose at least one tool set")
    return [name for name in TOOL_SETS if name in names]


def build_tools(names: Sequence[str], session: TargetSession) -> list[Tool]:
    return [t for name in names for t in TOOL_SETS[name](session)]
