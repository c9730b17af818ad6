"""Mutation testing of the core modules with mutmut 3, and a per-module report.

mutmut mutates a copy of the package and imports it by the dotted name it derives from each
file's path, so the copy must have the installed layout: scoring/, tasks/ and organisms/ sit at
the top of the repository but install as auditgame.scoring, auditgame.tasks and
auditgame.organisms. This script lays that layout out under build/mutants/ (kept between runs,
so mutmut resumes and re-tests only what changed), runs mutmut there, and prints the report.

    python .ci/mutants.py                      # every core module
    python .ci/mutants.py scoring/leakage.py auditgame/leakage   # a subset (files or folders)
    python .ci/mutants.py --report             # the report of the last run, running nothing
    python .ci/mutants.py --retest-survivors scoring/x.py   # only the survivors, after new tests
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "build" / "mutants"
# Repository folder -> folder inside the installed package (pyproject's package-dir).
LAYOUT = {
    "auditgame": "auditgame",
    "scoring": "auditgame/scoring",
    "tasks": "auditgame/tasks",
    "organisms": "auditgame/organisms",
}
CORE = [
    "scoring",
    "auditgame/audit",
    "auditgame/organism",
    "auditgame/leakage",
    "auditgame/naturalness",
    "auditgame/report/stats.py",
]
# mutmut's exit codes (mutmut.stats.status_by_exit_code); a timeout counts as detected.
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    None: "not checked",
}
DETECTED = {"killed", "timeout"}


def staged(path: str) -> str:
    """Where a repository path lies in the staged package: scoring/x.py -> auditgame/scoring/x.py."""
    path = path.strip("/")
    top, _, rest = path.partition("/")
    if top not in LAYOUT:
        raise SystemExit(f"mutants: {path!r} is not under {', '.join(LAYOUT)}")
    return f"{LAYOUT[top]}/{rest}".rstrip("/") if rest else LAYOUT[top]


def repository_path(path: str) -> str:
    """The inverse of staged(): auditgame/scoring/x.py -> scoring/x.py."""
    for top, inside in sorted(LAYOUT.items(), key=lambda kv: -len(kv[1])):
        if path == inside or path.startswith(inside + "/"):
            return top + path[len(inside) :]
    return path


def patterns(paths: list[str]) -> list[str]:
    return [p if p.endswith(".py") else p + "/*" for p in (staged(x) for x in paths)]


def mutant_names(paths: list[str]) -> list[str]:
    """mutmut's name patterns for the mutants in these paths: scoring/x.py -> auditgame.scoring.x.*"""
    names = []
    for path in paths:
        dotted = staged(path).removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        names.append(dotted + ".*")
    return names


def stage(paths: list[str], tests: list[str], debug: bool = False) -> None:
    """Copy the package into STAGE in its installed layout, with the tests and a mutmut config
    that mutates ``paths``.

    mutmut regenerates a file's mutants only when its source is newer than its copy, so a file
    that enters or leaves the mutated set has its copy and results removed first.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    package = STAGE / "auditgame"
    shutil.rmtree(package, ignore_errors=True)
    for top, inside in LAYOUT.items():
        shutil.copytree(ROOT / top, STAGE / inside, ignore=ignore, dirs_exist_ok=True)
    shutil.rmtree(STAGE / "tests", ignore_errors=True)
    shutil.copytree(ROOT / "tests", STAGE / "tests", ignore=ignore)
    config = (ROOT / "pyproject.toml").read_text()
    wanted = patterns(paths)
    record = STAGE / "only_mutate.json"
    before = json.loads(record.read_text()) if record.exists() else []
    for source in (STAGE / "auditgame").rglob("*.py"):
        name = source.relative_to(STAGE).as_posix()
        if any(fnmatch(name, p) for p in before) != any(fnmatch(name, p) for p in wanted):
            for stale in (STAGE / "mutants" / name, STAGE / "mutants" / (name + ".meta")):
                stale.unlink(missing_ok=True)
    record.write_text(json.dumps(wanted))
    only = ", ".join(json.dumps(p) for p in wanted)
    config += (
        "\n[tool.mutmut]\n"
        'source_paths = ["auditgame"]\n'
        f"only_mutate = [{only}]\n"
        # torch and Inspect's threads are not fork-safe: fork workers from a clean server.
        'process_isolation = "forkserver"\n'
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        f"debug = {json.dumps(debug)}\n"
    )
    (STAGE / "pyproject.toml").write_text(config)


def run(children: int, names: list[str]) -> int:
    # Tests that start a subprocess (the inspect CLI) run the unmutated package there: mutmut
    # puts the mutated copy first on sys.path of its own workers only.
    env = dict(
        os.environ,
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    mutmut = Path(sys.executable).parent / "mutmut"
    command = ["nice", "-n", "10", str(mutmut), "run", "--max-children", str(children), *names]
    return subprocess.run(command, cwd=STAGE, env=env).returncode


def exit_codes(paths: list[str]) -> dict[str, dict[str, int | None]]:
    """mutmut's exit code per mutant, per repository file in these paths (from its .meta files)."""
    wanted = patterns(paths)
    codes = {}
    for meta in sorted((STAGE / "mutants").rglob("*.py.meta")):
        source = meta.relative_to(STAGE / "mutants").as_posix().removesuffix(".meta")
        if any(fnmatch(source, p) for p in wanted):
            codes[repository_path(source)] = json.loads(meta.read_text())["exit_code_by_key"]
    return codes


def status(code: int | None) -> str:
    return STATUS.get(code, "suspicious")


def survivors(paths: list[str]) -> list[str]:
    return [
        name
        for by_name in exit_codes(paths).values()
        for name, code in by_name.items()
        if status(code) not in DETECTED | {"not checked"}
    ]


def score(counter: Counter[str]) -> str:
    checked = sum(n for status, n in counter.items() if status != "not checked")
    if not checked:
        return "   -"
    return f"{100 * sum(counter[s] for s in DETECTED) / checked:4.0f}"


def report(paths: list[str]) -> str:
    counts = {
        path: Counter(status(c) for c in by_name.values())
        for path, by_name in exit_codes(paths).items()
    }
    columns = ["killed", "timeout", "survived", "no tests", "not checked"]
    lines = [f"{'module':44} {'%':>4} " + " ".join(f"{c:>11}" for c in columns)]
    groups: dict[str, Counter[str]] = {}
    for path, counter in counts.items():
        lines.append(f"{path:44} {score(counter)} " + " ".join(f"{counter[c]:11}" for c in columns))
        group = next((g for g in paths if path == g or path.startswith(g.rstrip("/") + "/")), path)
        groups.setdefault(group, Counter()).update(counter)
    lines.append("")
    lines.append(f"{'core module':44} {'%':>4} " + " ".join(f"{c:>11}" for c in columns))
    for group, counter in groups.items():
        lines.append(
            f"{group:44} {score(counter)} " + " ".join(f"{counter[c]:11}" for c in columns)
        )
    lines.append("")
    lines.append(
        "% = (killed + timeout) / checked. Survivors: `cd build/mutants && "
        "../../.venv/bin/mutmut show NAME` shows one."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="repository files or folders (default: the core)")
    parser.add_argument("--report", action="store_true", help="print the last run's report only")
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants' names")
    parser.add_argument(
        "--retest-survivors",
        action="store_true",
        help="re-test only the last run's survivors in these paths (after new tests; the "
        "source must be unchanged since that run, or its killed mutants are stale)",
    )
    parser.add_argument(
        "--tests",
        nargs="*",
        default=["tests"],
        help="test files to run (default: all; fewer is faster, but a survivor may be killed by another)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the tests' output (mutmut's debug)"
    )
    parser.add_argument("--children", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    args = parser.parse_args()
    paths = [p.strip("/") for p in args.paths] or CORE
    if args.survivors:
        print("\n".join(survivors(paths)))
        return
    if not args.report:
        again = survivors(paths) if args.retest_survivors else []
        stage(paths, args.tests, args.debug)
        # A subset is re-tested whole (after new tests, survivors may now be killed) unless only
        # its survivors are asked for; the whole core resumes where the last run stopped.
        if args.retest_survivors:
            names = again
        else:
            names = mutant_names(args.paths) if args.paths else []
        code = run(args.children, names) if names or not args.retest_survivors else 0
        if code:
            raise SystemExit(f"mutants: mutmut exited with {code}")
    text = report(paths)
    (STAGE / "report.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
