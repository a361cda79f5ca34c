"""Run every ``benchmarks/bench_*.py`` in turn (``make bench``); each writes its own ``reports/bench/*.md``.

A failing benchmark does not stop the others; the exit status is 1 if any failed. Benchmarks that need
hardware this machine lacks decide for themselves (the GPU benchmark skips without CUDA, writing nothing).

    python benchmarks/run_all.py                 # all of them
    python benchmarks/run_all.py --only sgt      # those whose name contains "sgt"
    python benchmarks/run_all.py --only dna      # bench_dna_encoders.py: every DNA encoder
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only benchmarks whose file name contains this text")
    args = parser.parse_args(argv)
    scripts = sorted(p for p in HERE.glob("bench_*.py") if args.only in p.stem)
    if not scripts:
        print(f"no benchmarks/bench_*.py matches --only {args.only!r}", file=sys.stderr)
        return 2
    results = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        rc = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False).returncode
        results.append((script.name, rc, time.perf_counter() - start))
    print(
        "\n".join(
            f"{name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {s:.0f} s" for name, rc, s in results
        )
    )
    return 1 if any(rc != 0 for _, rc, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
