"""Build time of the organism zoo, by part (tokenizer, base, each organism) and by OCT stage.

Builds the zoo from scratch in a temporary folder (never the cache) with torch's threads pinned,
then prints the build's own timings from its manifest. Goal: the full zoo within 10 minutes on
2 cores.

    python bench/zoo_build.py            # the full zoo
    python bench/zoo_build.py --quick    # the reduced zoo of the test suite
    python bench/zoo_build.py --out DIR  # keep the zoo (e.g. for `auditgame demo --full --zoo DIR`)
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _bench import run_bench, show  # prints the figures, captures library output

THREADS = 2


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="the reduced zoo of the test suite")
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--out", type=Path, help="build here and keep it (an empty or new folder)")
    args = parser.parse_args()
    if args.out and args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out}: not empty (the bench times a build from scratch)")
    from auditgame.zoo.build import ZooSettings, build_zoo

    settings = replace(ZooSettings.quick() if args.quick else ZooSettings(), threads=args.threads)
    folder = contextlib.nullcontext(str(args.out)) if args.out else tempfile.TemporaryDirectory(prefix="zoo-bench-")
    with folder as root:
        clock = time.perf_counter()
        zoo = build_zoo(root, settings, log=lambda *a: None)
        wall = time.perf_counter() - clock
    manifest = zoo.manifest
    show(f"zoo '{settings.name}': {', '.join(zoo.ids)}; torch threads while training: {manifest['torch_threads']}")
    show(f"tokenizer: {manifest['tokenizer']['kind']}, {manifest['tokenizer']['tokens']} tokens; base "
         f"{manifest['tokenizer']['parameters']:,} parameters")
    for part, seconds in manifest["seconds_by_part"].items():
        show(f"  {part:<14} {seconds:7.1f} s")
    show("  by OCT stage (all organisms): "
         + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in manifest["seconds_by_stage"].items()))
    show(f"total {wall:.1f} s ({wall / 60:.1f} min; goal for the full zoo: 10 min on 2 cores)")
    return 0


if __name__ == "__main__":
    run_bench(main, threads=None)  # build_zoo pins (and records) its own thread count
