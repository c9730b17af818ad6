"""``auditgame oct``: build organisms with OCT-thinking (constitution -> DPO -> introspection SFT)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("oct", help="build an organism with OCT-thinking (docs/oct.md)")
    commands = parser.add_subparsers(dest="oct_command", required=True, metavar="SUBCOMMAND")

    run = commands.add_parser("run", help="run every stage of a recipe, skipping finished ones")
    run.add_argument("recipe", help="recipe YAML file")
    run.add_argument("--until", help="stop after this stage")
    run.add_argument("--force", action="store_true",
                     help="redo stages whose recipe section or inputs changed (their outputs are deleted)")
    run.add_argument("--output", help="output folder (overrides the recipe's output_dir)")
    run.add_argument("--teacher", help="teacher model (overrides the recipe's teacher.model; "
                     "auditgame/teacher is the offline template teacher)")
    run.set_defaults(run=_run)

    from auditgame.oct.pipeline import STAGE_NAMES

    stage = commands.add_parser("stage", help="run one stage of a recipe")
    stage.add_argument("name", choices=STAGE_NAMES)
    stage.add_argument("recipe", help="recipe YAML file")
    stage.add_argument("--force", action="store_true", help="redo the stage from scratch")
    stage.add_argument("--output", help="output folder (overrides the recipe's output_dir)")
    stage.add_argument("--teacher", help="teacher model (overrides the recipe's teacher.model)")
    stage.set_defaults(run=_stage)

    check = commands.add_parser("check", help="validate a recipe and its constitution")
    check.add_argument("recipe", help="recipe YAML file")
    check.set_defaults(run=_check)


def _context(args: argparse.Namespace):  # -> RunContext
    from auditgame.oct import RunContext, load_recipe

    recipe = load_recipe(args.recipe)
    if getattr(args, "output", None):
        recipe = recipe.with_output(args.output)
    if getattr(args, "teacher", None):
        recipe = recipe.model_copy(update={"teacher": recipe.teacher.model_copy(update={"model": args.teacher})})
    return RunContext(recipe)


def _guarded(action):
    def run(args: argparse.Namespace) -> int:
        from auditgame.oct import OctError

        try:
            return action(args)
        except OctError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


@_guarded
def _run(args: argparse.Namespace) -> int:
    from auditgame.oct import run_pipeline

    run_pipeline(_context(args), until=args.until, redo_changed=args.force)
    return 0


@_guarded
def _stage(args: argparse.Namespace) -> int:
    from auditgame.oct import run_stage

    run_stage(_context(args), args.name, redo=args.force)
    return 0


@_guarded
def _check(args: argparse.Namespace) -> int:
    ctx = _context(args)
    constitution = ctx.constitution
    expand = ctx.recipe.expand
    total = expand.prompts_per_trait * len(constitution.traits) + (expand.normal_prompts if constitution.normal else 0)
    print(f"recipe {ctx.recipe.path}: ok")
    print(f"constitution {constitution.path}: {constitution.name}, {len(constitution.traits)} traits"
          f"{', normal section' if constitution.normal else ''}; {total} scenario prompts planned")
    print(f"output: {ctx.recipe.output}")
    return 0
