"""ForamSim generation throughput: images/s for the full-scale set (27,729 images at 128 px).

Generates into a temporary folder (deleted afterwards) with all cores, and writes a markdown report
stamped with the command, machine, load and date. The goal on the 2-core development machine is
>= 500 images/s. On a busy machine pass ``--scale`` to time a subset; the report records the scale.

    python benchmarks/bench_forams_sim.py                      # -> reports/bench/forams_sim.md
    python benchmarks/bench_forams_sim.py --scale 0.2 --out /tmp/forams_sim.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without `pip install -e .`

from visgen.images.forams_sim import GENERATOR_VERSION, simulate  # noqa: E402

GOAL = 500.0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(scale: float, size: int, workers: int | None, repeats: int) -> tuple[int, list[float]]:
    """Time ``repeats`` full generations (process start-up, rendering, PNG writing, manifest, sheet).

    Returns:
        ``(n_images, [seconds per repeat])``.
    """
    times, n_images = [], 0
    for _ in range(repeats):
        tmp = Path(tempfile.mkdtemp(prefix="bench_forams_sim-"))
        try:
            start = time.perf_counter()
            out = simulate(tmp / "sim", scale=scale, size=size, seed=0, workers=workers)
            times.append(time.perf_counter() - start)
            n_images = sum(1 for _ in out.glob("*/*.png"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return n_images, times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 27,729 images")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "forams_sim.md")
    ns = parser.parse_args(argv)
    load = os.getloadavg()
    n_images, times = run(ns.scale, ns.size, ns.workers, ns.repeats)
    best = min(times)
    rate = n_images / best
    command = "python benchmarks/bench_forams_sim.py " + " ".join(sys.argv[1:] if argv is None else argv)
    verdict = "meets" if rate >= GOAL else "misses"
    lines = [
        "# ForamSim generation benchmark",
        "",
        f"- command: `{command.strip()}`",
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {_cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- load average before the run (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        "(the cores are shared; a loaded machine lowers the rate)",
        f"- workload: scale {ns.scale} = {n_images} images at {ns.size} px, seed 0, "
        f"workers {ns.workers or os.cpu_count()}, generator version {GENERATOR_VERSION}",
        "- timed: everything `simulate` does (worker start-up, rendering, PNG writing, manifest, contact sheet)",
        "",
        "| repeat | seconds | images/s |",
        "| --- | --- | --- |",
        *(f"| {i + 1} | {t:.1f} | {n_images / t:.0f} |" for i, t in enumerate(times)),
        "",
        f"**{rate:.0f} images/s** (best of {len(times)}); goal >= {GOAL:.0f} images/s: {verdict} it.",
        "",
    ]
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
