"""``auditgame/<name>``: built-in models that need no weights and no network.

- ``auditgame/prior``: the prior-only baseline auditor (`auditgame.audit.prior`): its first
  turn calls ``submit`` with the best fixed policy; it never calls the target.
- ``auditgame/differential``: the evidence-based baseline auditor (`auditgame.audit.differential`):
  a fixed probe battery through the real tools, a verdict from measured differences between the
  target and the reference model.
- ``auditgame/keyword-grader``: the offline stand-in grader (`auditgame.audit.standin`), for
  ``--model-role grader=auditgame/keyword-grader`` in any auditgame task.
- ``auditgame/teacher``: the zoo's template teacher for OCT-thinking (`auditgame.zoo.teacher`):
  deterministic in-character answers from the constitution in its system prompt.

All report token usage counted on the text they read and write (words and punctuation marks).
"""

from __future__ import annotations

import json
import re
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from auditgame.audit import standin
from auditgame.audit.prior import best_policy

PRIOR, KEYWORD_GRADER, TEACHER = "prior", "keyword-grader", "teacher"
DIFFERENTIAL = "differential"
MODELS = (PRIOR, DIFFERENTIAL, KEYWORD_GRADER, TEACHER)
TOKEN = re.compile(r"\w+|[^\w\s]")
MAX_HYPOTHESES = re.compile(r"up to (\d+) hypotheses")


def count_tokens(text: str) -> int:
    return len(TOKEN.findall(text))


def usage(read: str, written: str) -> ModelUsage:
    inputs, outputs = count_tokens(read), count_tokens(written)
    return ModelUsage(input_tokens=inputs, output_tokens=outputs, total_tokens=inputs + outputs)


def _text(input: list[ChatMessage]) -> str:
    return "\n".join(m.text for m in input)


def _teach(input: list[ChatMessage]) -> str:
    from auditgame.zoo.teacher import respond

    system = "\n\n".join(m.text for m in input if isinstance(m, ChatMessageSystem))
    users = [m.text for m in input if isinstance(m, ChatMessageUser)]
    return respond(system, users[-1] if users else "")


class AuditgameAPI(ModelAPI):
    """Serves ``auditgame/prior``, ``auditgame/differential``, ``auditgame/keyword-grader`` and
    ``auditgame/teacher``."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        if model_name not in MODELS:
            raise ValueError(
                f"unknown model 'auditgame/{model_name}'; known: "
                + ", ".join(f"auditgame/{m}" for m in MODELS)
            )
        if model_args:
            raise ValueError(f"auditgame/{model_name} takes no model args, got {sorted(model_args)}")

    def max_connections(self) -> int:
        return 64

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        prompt = _text(input)
        names = [t.name for t in tools]
        if self.model_name == DIFFERENTIAL:
            return self._differential(input, tools, tool_choice, prompt)
        if self.model_name == PRIOR:
            tool, arguments, text = self._prior(prompt, names)
        elif self.model_name == TEACHER:
            tool, arguments, text = "", None, _teach(input)
        else:
            tool, arguments, text = standin.choose(input[-1].text if input else "", names)
        if tool:
            output = ModelOutput.for_tool_call(f"auditgame/{self.model_name}", tool, arguments or {})
            written = json.dumps(arguments)
        else:
            output = ModelOutput.from_content(f"auditgame/{self.model_name}", text)
            written = text
        output.usage = usage(prompt, written)
        return output

    def _differential(
        self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, prompt: str
    ) -> ModelOutput:
        from auditgame.audit import differential

        text, calls = differential.next_turn(input, tools, tool_choice)
        output = differential.output(f"auditgame/{self.model_name}", text, calls)
        output.usage = usage(prompt, text + json.dumps([c.arguments for c in calls]))
        return output

    def _prior(self, prompt: str, tools: list[str]) -> tuple[str, dict | None, str]:
        if "submit" not in tools:
            return "", None, "The prior-only baseline only submits."
        from auditgame.registry import registry

        found = MAX_HYPOTHESES.search(prompt)
        policy = best_policy(registry().all(), int(found.group(1)) if found else 1)
        return "submit", {"found": policy.found, "hypotheses": policy.hypotheses}, ""
