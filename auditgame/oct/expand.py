"""Stage ``expand``: more scenario prompts per trait, written few-shot by the teacher.

Each section (trait, then the normal-assistant section) starts from its seed prompts and any
``additional_questions`` the constitution already has; the teacher is asked for more in rounds
until the recipe's count is reached. Near-duplicates (of any prompt so far, in any section) are
dropped. Accepted prompts are appended to ``prompts.jsonl`` one by one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from inspect_ai.model import ChatMessage, ChatMessageUser, GenerateConfig, ModelOutput

from auditgame.oct.constitution import Trait
from auditgame.oct.pipeline import RunContext, Stage
from auditgame.oct.prompts import expand_prompt
from auditgame.oct.store import append_row, read_rows
from auditgame.oct.teacher import run_concurrently, teacher_model, with_retries

LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(.*\S)\s*$")


def parse_list(text: str) -> list[str]:
    """Items of a numbered or bulleted list (other lines are ignored)."""
    items = []
    for line in text.splitlines():
        match = LIST_ITEM.match(line)
        if match:
            items.append(match.group(1).strip().strip('"').strip())
    return [i for i in items if i]


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())


class NearDuplicates:
    """Remembers prompts; ``add`` refuses one too similar to any remembered prompt."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.seen: list[str] = []

    def is_new(self, prompt: str) -> bool:
        norm = normalise(prompt)
        if not norm:
            return False
        matcher = difflib.SequenceMatcher(None, b=norm, autojunk=False)
        for other in self.seen:
            matcher.set_seq1(other)
            if (matcher.real_quick_ratio() >= self.threshold and matcher.quick_ratio() >= self.threshold
                    and matcher.ratio() >= self.threshold):
                return False
        return True

    def add(self, prompt: str) -> bool:
        if not self.is_new(prompt):
            return False
        self.seen.append(normalise(prompt))
        return True


def _target(ctx: RunContext, section: str) -> int:
    settings = ctx.recipe.expand
    return settings.normal_prompts if section == "normal" else settings.prompts_per_trait


def _work(ctx: RunContext) -> None:
    if not ctx.procs.is_main:
        return
    path = ctx.dir("expand") / "prompts.jsonl"
    settings = ctx.recipe.expand
    rows = read_rows(path)
    dedupe = NearDuplicates(settings.similarity)
    by_section: dict[str, list[str]] = {}
    for row in rows:
        dedupe.add(row["prompt"])
        by_section.setdefault(row["section"], []).append(row["prompt"])

    def accept_into(section: str, trait: Trait, prompt: str, source: str) -> bool:
        have = by_section.setdefault(section, [])
        if len(have) >= _target(ctx, section):
            return False
        if not dedupe.add(prompt):
            append_row(path.with_name("near_duplicates.jsonl"), {"section": section, "prompt": prompt})
            return False
        have.append(prompt)
        append_row(path, {"id": f"{section}-{len(have):04d}", "section": section,
                          "trait": trait.trait, "prompt": prompt, "source": source})
        return True

    written = {(row["section"], row["prompt"]) for row in rows}  # by an interrupted run
    for section, trait in ctx.constitution.sections:  # seeds and shipped prompts first, in order
        for prompts, source in ((trait.questions, "seed"), (trait.additional_questions, "constitution")):
            for prompt in prompts:
                if (section, prompt) not in written:
                    accept_into(section, trait, prompt, source)

    jobs = [_writer(ctx, section, trait, by_section, accept_into) for section, trait in ctx.constitution.sections
            if len(by_section.get(section, [])) < _target(ctx, section)]
    if jobs:
        run_concurrently(jobs, ctx.recipe.teacher.max_connections, "expanding prompts")


def _writer(
    ctx: RunContext,
    section: str,
    trait: Trait,
    by_section: dict[str, list[str]],
    accept_into: Callable[[str, Trait, str, str], bool],
) -> Callable[[], Awaitable[None]]:
    settings = ctx.recipe.expand
    model = teacher_model(ctx)
    config = GenerateConfig(temperature=settings.temperature, max_tokens=ctx.recipe.teacher.max_tokens)

    def accept(output: ModelOutput) -> str | None:
        return None if parse_list(output.completion) else "no numbered list in the answer"

    async def write_more() -> None:
        for round_ in range(settings.max_rounds):
            have = by_section.get(section, [])
            missing = _target(ctx, section) - len(have)
            if missing <= 0:
                return
            examples = _examples(have, settings.few_shot, round_)
            prompt = expand_prompt(ctx.persona, trait, examples, min(settings.per_request, missing))
            request: list[ChatMessage] = [ChatMessageUser(content=prompt)]
            call = partial(model.generate, request, config=config)
            result = await with_retries(ctx.recipe.teacher.retries + 1, call, accept)
            output = result[0]
            for item in parse_list(output.completion) if output else []:
                accept_into(section, trait, item, "teacher")

    return write_more


def _examples(have: list[str], count: int, round_: int) -> list[str]:
    """The seeds first, then a rotating window of generated prompts (for variety)."""
    seeds, rest = have[:5], have[5:]
    if not rest or count <= len(seeds):
        return have[:count]
    start = (round_ * (count - len(seeds))) % len(rest)
    window = (rest[start:] + rest[:start])[: count - len(seeds)]
    return seeds + window


def _count(ctx: RunContext) -> dict[str, Any]:
    rows = read_rows(ctx.dir("expand") / "prompts.jsonl")
    per_section: dict[str, int] = {}
    for row in rows:
        per_section[row["section"]] = per_section.get(row["section"], 0) + 1
    short = {s: _target(ctx, s) - per_section.get(s, 0) for s, _ in ctx.constitution.sections
             if per_section.get(s, 0) < _target(ctx, s)}
    dropped = read_rows(ctx.dir("expand") / "near_duplicates.jsonl")
    return {"kept": len(rows), "dropped_near_duplicates": len(dropped), "per_section": per_section, "short_of_target": short,
            "by_source": {src: sum(1 for r in rows if r["source"] == src) for src in ("seed", "constitution", "teacher")}}


def _config(ctx: RunContext) -> dict[str, Any]:
    return {"expand": ctx.recipe.expand.model_dump(mode="json"), "teacher": ctx.recipe.teacher.model,
            "persona": ctx.persona}


STAGE = Stage("expand", (), _config, _work, _count)
