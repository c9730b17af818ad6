"""Library output goes to the build log; only the command's own lines reach the terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import os, subprocess, sys
from auditgame.console import captured
with captured({log!r}) as show:
    print("a library line")
    os.write(2, b"a C extension's line\\n")
    subprocess.run([sys.executable, "-c", "print('a child process line')"], check=True)
    show("[zoo] shown")
    {ending}
print("after the block")
"""


def run(tmp_path: Path, ending: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    log = tmp_path / "zoo" / "build.log"
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(log=str(log), ending=ending), encoding="utf-8")
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60), log


def test_library_output_goes_to_the_log_and_shown_lines_to_the_terminal(tmp_path):
    done, log = run(tmp_path, "pass")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[zoo] shown\nafter the block\n" and done.stderr == ""
    assert sorted(log.read_text(encoding="utf-8").splitlines()) == [
        "a C extension's line", "a child process line", "a library line"]


def test_a_failure_shows_the_logs_last_lines_and_the_error(tmp_path):
    done, log = run(tmp_path, "raise RuntimeError('trainer broke')")
    assert done.returncode == 1 and done.stdout == "[zoo] shown\n"
    assert f"captured output ({log})" in done.stderr
    assert "a child process line" in done.stderr and "RuntimeError: trainer broke" in done.stderr
    assert "after the block" not in done.stdout
