"""Benches print their figures and nothing else; a failing bench shows what it captured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
NOISY = """
import sys, warnings
sys.path.insert(0, {bench!r})
from tqdm import tqdm
from _bench import run_bench, show

def main():
    for _ in tqdm(range(3), desc="progress"):
        pass
    warnings.warn("a library warning")
    print("a library log line")
    show("figure: 42")
    {ending}

run_bench(main, threads=None)
"""


def bench(tmp_path: Path, ending: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "noisy.py"
    script.write_text(NOISY.format(bench=str(BENCH), ending=ending), encoding="utf-8")
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)


def test_a_bench_prints_only_its_figures(tmp_path):
    done = bench(tmp_path, "return 0")
    assert done.returncode == 0
    assert done.stdout == "figure: 42\n" and done.stderr == ""


def test_a_failing_bench_shows_the_captured_output_and_the_error(tmp_path):
    done = bench(tmp_path, "raise RuntimeError('engine broke')")
    assert done.returncode == 1 and done.stdout == "figure: 42\n"
    assert "a library log line" in done.stderr and "RuntimeError: engine broke" in done.stderr
    assert "a library warning" in done.stderr
