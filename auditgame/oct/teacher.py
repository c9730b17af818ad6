"""Stage ``teacher``: in-character answers with ``<think>`` reasoning from the teacher model.

The constitution is the teacher's system prompt. Each answer is appended to ``answers.jsonl``
as soon as it arrives; a prompt whose calls fail or whose answers have no closed think block
is retried, then written to ``dropped.jsonl`` and counted. A re-run skips both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from inspect_ai.model import (
    ChatMessage,
    ChatMessageSystem,
    ChatMessageUser,
    ContentReasoning,
    GenerateConfig,
    Model,
    ModelOutput,
    get_model,
)

from auditgame.oct.errors import OctError
from auditgame.oct.pipeline import RunContext, Stage
from auditgame.oct.prompts import character_system_prompt
from auditgame.oct.store import append_row, progress, read_rows
from auditgame.organism.chat import split_thinking

T = TypeVar("T")


def teacher_model(ctx: RunContext) -> Model:
    settings = ctx.recipe.teacher
    if ctx.teacher is not None:
        return ctx.teacher
    try:
        return get_model(
            settings.model,
            config=GenerateConfig(max_connections=settings.max_connections),
            **settings.model_args,
        )
    except Exception as exc:  # noqa: BLE001  (a missing key or package: one line, not a traceback)
        raise OctError(
            f"{ctx.recipe.path}: teacher model {settings.model!r} (recipe key 'teacher.model') "
            f"cannot be used: {plain_message(exc)}"
        ) from None


def plain_message(exc: Exception) -> str:
    """An exception's message on one line, without the console markup Inspect puts in some."""
    from rich.errors import MarkupError
    from rich.text import Text

    try:
        text = Text.from_markup(str(exc)).plain
    except MarkupError:  # brackets that are not markup
        text = str(exc)
    lines = [line.strip() for line in text.splitlines()]
    return "; ".join(line.removeprefix("ERROR: ") for line in lines if line) or type(exc).__name__


def turn_text(output: ModelOutput) -> str:
    """The whole assistant turn: provider reasoning (when separate) as a think block, then text."""
    message = output.message
    reasoning = []
    if not isinstance(message.content, str):
        reasoning = [c.reasoning for c in message.content if isinstance(c, ContentReasoning)]
    text = message.text
    if reasoning and "</think>" not in text:
        return "<think>\n" + "\n".join(reasoning).strip() + "\n</think>\n\n" + text.lstrip()
    return text


async def with_retries(
    attempts: int, call: Callable[[], Awaitable[T]], accept: Callable[[T], str | None]
) -> tuple[T | None, list[str]]:
    """Call until ``accept`` returns no complaint; return the result (or None) and the complaints."""
    problems: list[str] = []
    for _ in range(attempts):
        try:
            result = await call()
        except Exception as exc:  # noqa: BLE001 (a provider error costs this prompt one attempt)
            problems.append(f"{type(exc).__name__}: {exc}"[:300])
            continue
        problem = accept(result)
        if problem is None:
            return result, problems
        problems.append(problem)
    return None, problems


def run_concurrently(jobs: list[Callable[[], Awaitable[Any]]], limit: int, desc: str) -> None:
    """Run async jobs, at most ``limit`` at once, with a progress bar."""

    async def main() -> None:
        gate = asyncio.Semaphore(limit)

        async def one(job: Callable[[], Awaitable[Any]]) -> None:
            async with gate:
                await job()

        tasks = [asyncio.ensure_future(one(job)) for job in jobs]
        try:
            for finished in progress(asyncio.as_completed(tasks), len(tasks), desc):
                await finished
        finally:  # on a crash, stop the rest (rows already appended are kept)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def _work(ctx: RunContext) -> None:
    if not ctx.procs.is_main:  # API calls: one process is enough
        return
    folder, settings = ctx.dir("teacher"), ctx.recipe.teacher
    prompts = read_rows(ctx.dir("expand") / "prompts.jsonl")
    finished = {r["id"] for r in read_rows(folder / "answers.jsonl") + read_rows(folder / "dropped.jsonl")}
    model = teacher_model(ctx)
    system = character_system_prompt(ctx.constitution, ctx.persona)
    config = GenerateConfig(max_tokens=settings.max_tokens, temperature=settings.temperature)

    def accept(output: ModelOutput) -> str | None:
        split = split_thinking(turn_text(output))
        return None if split.well_formed else "no closed <think> block followed by an answer"

    def job(row: dict[str, Any]) -> Callable[[], Awaitable[None]]:
        async def answer() -> None:
            messages: list[ChatMessage] = [ChatMessageSystem(content=system), ChatMessageUser(content=row["prompt"])]
            # (assigned before unpacking: unpacking in place makes mypy solve T as Optional)
            result = await with_retries(
                settings.retries + 1, lambda: model.generate(messages, config=config), accept
            )
            output, problems = result
            if output is None:
                append_row(folder / "dropped.jsonl", {"id": row["id"], "problems": problems})
                return
            split = split_thinking(turn_text(output))
            append_row(
                folder / "answers.jsonl",
                {"id": row["id"], "section": row["section"], "prompt": row["prompt"],
                 "reasoning": split.reasoning, "answer": split.answer, "retries": len(problems)},
            )

        return answer

    pending = [row for row in prompts if row["id"] not in finished]
    run_concurrently([job(r) for r in pending], settings.max_connections, "teacher answers")


def _count(ctx: RunContext) -> dict[str, Any]:
    folder = ctx.dir("teacher")
    dropped = read_rows(folder / "dropped.jsonl")
    answers = read_rows(folder / "answers.jsonl")
    return {"kept": len(answers), "dropped": len(dropped),
            "retried": sum(1 for r in answers if r["retries"]),
            "dropped_no_think": sum(1 for r in dropped if any("think" in p for p in r["problems"]))}


def _config(ctx: RunContext) -> dict[str, Any]:
    return {"teacher": ctx.recipe.teacher.model_dump(mode="json"), "persona": ctx.persona}


STAGE = Stage("teacher", ("expand",), _config, _work, _count)
