"""SGT throughput on all 878 real 18S sequences: visgen's vectorised SGT against the ``sgt`` 2.0.3 package.

Both are measured in the same run on the same machine. The package enumerates position pairs in Python
(~0.1 s per ~1 kb sequence), so by default it is timed on a subset of sequences spread evenly over the
length distribution and its per-sequence mean is extrapolated to all 878 (the report says so); pass
``--package-all`` to time it on every sequence (minutes). The outputs are compared on that subset.
Sequences with IUPAC codes are embedded with the codes dropped, so all 878 records take part.

    python benchmarks/bench_sgt.py                        # -> reports/bench/sgt.md
    python benchmarks/bench_sgt.py --package-n 10 --out /tmp/sgt.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without `pip install -e .`

from visgen.genetics.encoders.encoding import DINUCLEOTIDE_ALPHABET, dinucleotides  # noqa: E402
from visgen.genetics.encoders.sgt import sgt_embed  # noqa: E402
from visgen.genetics.fasta import read_fasta  # noqa: E402
from visgen.resources import data_path  # noqa: E402
from visgen.run.machine import describe_machine  # noqa: E402

GOAL = 1000.0


def time_ours(sequences: list[str], repeats: int) -> tuple[list[float], list[float], np.ndarray]:
    """Wall and CPU seconds per repeat for encoding + SGT of all sequences, and the embeddings [N, 256]."""
    wall, cpu, emb = [], [], np.empty(0)
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        emb = sgt_embed([dinucleotides(s) for s in sequences], alphabet=DINUCLEOTIDE_ALPHABET)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu, emb


def time_package(sequences: list[str]) -> tuple[list[float], list[float], np.ndarray]:
    """Wall and CPU seconds per sequence for encoding + ``SGT.fit`` (kappa 1, length-insensitive), embeddings."""
    from sgt import SGT

    model = SGT(alphabets=list(DINUCLEOTIDE_ALPHABET), kappa=1, lengthsensitive=False, flatten=True)
    wall, cpu, rows = [], [], []
    for seq in sequences:
        start, start_cpu = time.perf_counter(), time.process_time()
        rows.append(model.fit(list(dinucleotides(seq))).to_numpy(dtype=float))
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu, np.array(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package-n", type=int, default=24, help="sequences to time the sgt package on")
    parser.add_argument("--package-all", action="store_true", help="time the package on all sequences")
    parser.add_argument("--repeats", type=int, default=7, help="repeats of our SGT (the median is reported)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "sgt.md")
    args = parser.parse_args(argv)

    read = read_fasta(data_path("foram_18S_rDNA.fasta"), iupac="drop")
    sequences = [r.sequence for r in read.records]
    lengths = np.array([len(s) for s in sequences])
    n = len(sequences)

    ours_times, ours_cpu, ours_emb = time_ours(sequences, args.repeats)
    ours_total, ours_cpu_total = statistics.median(ours_times), statistics.median(ours_cpu)

    if args.package_all:
        subset = np.arange(n)
    else:  # evenly spaced over the sorted lengths, so the subset's mean cost represents all sequences
        order = np.argsort(lengths, kind="stable")
        subset = order[np.linspace(0, n - 1, min(args.package_n, n)).round().astype(int)]
    pkg_times, pkg_cpu, pkg_emb = time_package([sequences[i] for i in subset])
    pkg_per_seq = statistics.fmean(pkg_times)
    pkg_total, pkg_cpu_total = pkg_per_seq * n, statistics.fmean(pkg_cpu) * n
    max_diff = float(np.abs(ours_emb[subset] - pkg_emb).max())
    speedup, speedup_cpu = pkg_total / ours_total, pkg_cpu_total / ours_cpu_total

    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    import sgt as sgt_package

    command = "python benchmarks/bench_sgt.py " + " ".join(argv if argv is not None else sys.argv[1:])
    package_how = (
        f"all {n} sequences"
        if args.package_all
        else f"{len(subset)} of {n} sequences spread evenly over the length range "
        f"({lengths[subset].min()}-{lengths[subset].max()} bp), per-sequence mean x {n} (extrapolated)"
    )
    report = f"""# SGT throughput: visgen vs the `sgt` package

Command: `{command.strip()}`
Date: {dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
Machine: {describe_machine()}, load average {load} (1/5/15 min)
Software: Python {platform.python_version()}, numpy {np.__version__}, sgt {getattr(sgt_package, "__version__", "2.0.3")}
Data: the shipped {n} real 18S sequences ({lengths.min()}-{lengths.max()} bp, median {int(np.median(lengths))}),
IUPAC codes dropped; stride-1 dinucleotides, 16 symbols, kappa 1, length-insensitive (the paper's setting).

| | wall s for all {n} | wall ms per sequence | CPU s for all {n} | how measured |
| --- | ---: | ---: | ---: | --- |
| visgen `sgt_embed` (encoding + SGT) | {ours_total:.3f} | {1000 * ours_total / n:.3f} | {ours_cpu_total:.3f} | median of {args.repeats} runs on all {n} (wall min {min(ours_times):.3f} s) |
| `sgt` 2.0.3 `SGT.fit` (encoding + SGT) | {pkg_total:.1f} | {1000 * pkg_per_seq:.1f} | {pkg_cpu_total:.1f} | {package_how} |

**Speed-up: {speedup:,.0f}x wall, {speedup_cpu:,.0f}x CPU time** (goal >= {GOAL:,.0f}x: {"met" if speedup >= GOAL else "NOT met"} on wall time).
CPU time (all threads of this process) is less sensitive than wall time to other jobs on the machine.
Max |visgen - package| on the timed subset: {max_diff:.1e}.

Note: the development machine's 2 cores are shared with other jobs; timings vary with the load shown
above (the speed-up more so for visgen's short run than for the package's long one).
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
