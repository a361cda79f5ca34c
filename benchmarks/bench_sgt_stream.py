"""Streaming SGT anchors at barcode scale: wall time and peak memory for 100k and 1M random 658-bp barcodes.

Each size runs in a fresh subprocess (so its peak RSS is its own): random 658-bp barcodes of 1,000 species are
generated lazily a chunk at a time (never all in memory), encoded by the paper's dinucleotide SGT through
``visgen.genetics.stream.stream_encode`` into running species means, with every float32 row written to a
``.npy`` (``--memmap``) in a temporary folder. The child reports wall seconds and ``ru_maxrss``; the report
extrapolates linearly to 5 M barcodes and says whether the goal (5 M in <= 10 min on this machine, peak RSS
<= 2 GB) is met, measured or extrapolated. It replaces its own section of the report only
(``bench_anchor_table.py`` writes the anchors-from-a-table section of the same file).

    python benchmarks/bench_sgt_stream.py                      # 100k and 1M -> reports/bench/sgt_stream.md
    python benchmarks/bench_sgt_stream.py --sizes 100000 300000 --out /tmp/s.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without `pip install -e .`

LENGTH = 658  # a COI barcode
SPECIES = 1000
GOAL_N, GOAL_SECONDS, GOAL_RSS_GB = 5_000_000, 600.0, 2.0


def barcodes(n: int, seed: int = 0, block: int = 4096) -> Iterator:
    """``n`` random SequenceRecords of LENGTH bases over SPECIES species, made ``block`` at a time."""
    import numpy as np

    from visgen.genetics.fasta import SequenceRecord

    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"acgt", dtype=np.uint8)
    for start in range(0, n, block):
        size = min(block, n - start)
        bases = letters[rng.integers(0, 4, size=(size, LENGTH))]
        species = rng.integers(0, SPECIES, size=size)
        for i in range(size):
            name = f"Genus_s{species[i]:04d}"
            yield SequenceRecord(f"R{start + i}", name, bases[i].tobytes().decode("ascii"), name)


def replace_section(path: Path, name: str, lines: list[str]) -> None:
    """Write ``lines`` into ``path`` between ``<!-- name -->`` and ``<!-- /name -->``, keeping the rest of the file.

    Two benchmarks report into one file (this one and ``bench_anchor_table.py``); each replaces its own part only,
    so rerunning one never erases the other's measurements. A new section is appended.
    """
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = "\n".join([begin, *lines, end]) + "\n"
    text = path.read_text() if path.is_file() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def child(n: int, chunk: int) -> None:
    """Run one size and print a JSON line: n, seconds, peak RSS in bytes, species."""
    import resource
    import time

    from visgen.genetics.encoders.sgt import SgtEncoder
    from visgen.genetics.stream import stream_encode

    with tempfile.TemporaryDirectory(prefix="sgt_stream_") as folder:
        start = time.perf_counter()
        result = stream_encode(
            barcodes(n), SgtEncoder(), chunk=chunk, memmap=Path(folder) / "rows.npy", n_records=n
        )
        names, _ = result.anchors.anchors("mean")
        seconds = time.perf_counter() - start
        size = (Path(folder) / "rows.npy").stat().st_size
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    print(json.dumps({"n": n, "seconds": seconds, "rss": rss, "species": len(names), "npy_bytes": size}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "sgt_stream.md")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.chunk)
        return 0

    from visgen.run.machine import describe_machine

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    command = " ".join(
        ["python", "benchmarks/bench_sgt_stream.py", *(argv if argv is not None else sys.argv[1:])]
    )
    load = os.getloadavg()
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    runs = []
    for n in args.sizes:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--chunk", str(args.chunk)],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(runs[-1], flush=True)
    load_after = os.getloadavg()
    largest = max(runs, key=lambda r: r["n"])
    seconds_5m = largest["seconds"] * GOAL_N / largest["n"]
    # Memory: linear in the two largest sizes (the stream should be flat; a rising slope would show a leak, a
    # falling one is noise and is not extrapolated below the largest measurement).
    if len(runs) > 1:
        a, b = sorted(runs, key=lambda r: r["n"])[-2:]
        slope = max(0.0, (b["rss"] - a["rss"]) / (b["n"] - a["n"]))
    else:
        a = b = largest
        slope = 0.0
    rss_5m = b["rss"] + slope * (GOAL_N - b["n"])
    gb = 1024**3
    time_ok, rss_ok = seconds_5m <= GOAL_SECONDS, rss_5m <= GOAL_RSS_GB * gb
    measured = largest["n"] >= GOAL_N
    how = "measured" if measured else f"extrapolated linearly from {largest['n']:,}"
    verdict = "MET" if time_ok and rss_ok else "NOT MET"
    lines = [
        "# Streaming SGT anchors: random 658-bp barcodes, memmap output",
        "",
        f"- command: `OMP_NUM_THREADS={env['OMP_NUM_THREADS']} {command}`",
        f"- machine: {describe_machine()}",
        f"- load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; at end: "
        f"{load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} (other jobs share the 2 cores)",
        f"- date: {started}",
        f"- path: `visgen.genetics.stream.stream_encode` with the dinucleotide SGT (stride 1, kappa 1), chunk "
        f"{args.chunk}, species mean anchors ({SPECIES} species), float32 rows to a `.npy`; each size in a fresh "
        "subprocess, barcodes generated a chunk at a time; peak RSS = the child's `ru_maxrss`",
        "",
        "| barcodes | wall s | barcodes/s | peak RSS (MiB) | .npy (MiB) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['n']:,} | {r['seconds']:.1f} | {r['n'] / r['seconds']:,.0f} | {r['rss'] / 2**20:,.0f} | "
            f"{r['npy_bytes'] / 2**20:,.0f} |"
        )
    lines += [
        "",
        f"5 M barcodes ({how}): {seconds_5m:,.0f} s ({seconds_5m / 60:.1f} min) and peak RSS "
        f"{rss_5m / 2**20:,.0f} MiB (RSS slope {slope * 1e6 / 2**20:.2f} MiB per million between "
        f"{a['n']:,} and {b['n']:,}).",
        "",
        f'**Goal "5 M barcodes in <= 10 min on these 2 cores with peak RSS <= 2 GB": {verdict}** ({how}; time '
        f"{'within' if time_ok else 'over'} 10 min, memory {'within' if rss_ok else 'over'} 2 GB). The SGT runs on "
        "one core (numpy, OMP_NUM_THREADS=1); the .npy for 5 M rows takes "
        f"{GOAL_N * 256 * 4 / gb:.1f} GiB of disk.",
        "",
    ]
    replace_section(args.out, "memmap", lines)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
