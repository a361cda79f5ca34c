"""Species anchors from a barcode TABLE at scale: wall time and peak memory of ``load_genetic_anchors``.

For each size a TSV of random 658-bp barcodes over 1,000 species is written first (by the parent, a chunk at a
time, not timed), then a fresh subprocess builds the anchors from it exactly as a run does with
``genetics.source=table`` — hash the file for the cache key, read and check every row, encode a chunk at a time
with the paper's dinucleotide SGT into the per-species reduction, write the per-species cache — and reports wall
seconds, ``ru_maxrss`` and the cache file's size. The report section replaces its own part of
``reports/bench/sgt_stream.md`` (the memmap benchmark of ``bench_sgt_stream.py`` keeps its part).

    OMP_NUM_THREADS=1 python benchmarks/bench_anchor_table.py                      # 100k and 1M, mean
    OMP_NUM_THREADS=1 python benchmarks/bench_anchor_table.py --sizes 100000 --reduce medoid --out /tmp/a.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without `pip install -e .`

from benchmarks.bench_sgt_stream import SPECIES, barcodes, replace_section  # noqa: E402
from visgen.genetics.stream import DEFAULT_MEDOID_BOUND  # noqa: E402

COLUMNS = {"id_column": "processid", "species_column": "species", "sequence_column": "dna_barcode"}


def write_table(path: Path, n: int) -> None:
    """``n`` rows ``processid<TAB>species<TAB>dna_barcode`` (species as 'Genus sNNNN'), written a block at a time."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("processid\tspecies\tdna_barcode\n")
        for r in barcodes(n):
            fh.write(f"{r.id}\t{r.species.replace('_', ' ')}\t{r.sequence}\n")


def child(table: Path, reduce: str, chunk: int) -> None:
    """Build the anchors from ``table`` and print a JSON line: seconds, peak RSS in bytes, species, cache bytes."""
    import resource
    import time

    from visgen.genetics.dataset import load_genetic_anchors
    from visgen.genetics.encoders.sgt import SgtEncoder

    with tempfile.TemporaryDirectory(prefix="anchor_cache_") as cache:
        before = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before = before.ru_utime + before.ru_stime  # imports are not part of the build
        start = time.perf_counter()
        result = load_genetic_anchors(
            table, encoder=SgtEncoder(), source="table", table={"path": str(table), **COLUMNS},
            reduce=reduce, chunk=chunk, cache_dir=cache,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        cache_bytes = sum(p.stat().st_size for p in Path(cache).glob("*.npz"))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss = usage.ru_maxrss * 1024  # kilobytes on Linux
    # CPU seconds beside wall seconds: on the shared machine their ratio tells other jobs' share from our work.
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "rss": rss, "species": len(result.species),
                      "kept": int(result.counts.sum()), "cache_bytes": cache_bytes}))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--reduce", default="mean", choices=["mean", "medoid", "median"])
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "sgt_stream.md")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.reduce, args.chunk)
        return 0

    from visgen.run.machine import describe_machine

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    command = " ".join(
        ["python", "benchmarks/bench_anchor_table.py", *(argv if argv is not None else sys.argv[1:])]
    )
    load = os.getloadavg()
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    runs = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="anchor_table_") as folder:
            table = Path(folder) / "barcodes.tsv"
            write_table(table, n)
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(table), "--reduce", args.reduce, "--chunk", str(args.chunk)],
                capture_output=True, text=True, env=env, check=True,
            )  # fmt: skip
            runs.append(
                {"n": n, "table_bytes": table.stat().st_size, **json.loads(proc.stdout.splitlines()[-1])}
            )
        print(runs[-1], flush=True)
    load_after = os.getloadavg()
    largest = max(runs, key=lambda r: r["n"])
    seconds_5m = largest["seconds"] * 5_000_000 / largest["n"]
    # Memory: linear in the two largest sizes (what grows with the rows is the reader's set of ids seen).
    a, b = sorted(runs, key=lambda r: r["n"])[-2:] if len(runs) > 1 else (largest, largest)
    slope = max(0.0, (b["rss"] - a["rss"]) / (b["n"] - a["n"])) if b["n"] > a["n"] else 0.0
    rss_5m = b["rss"] + slope * (5_000_000 - b["n"])
    lines = [
        f"## Anchors from a barcode table (`load_genetic_anchors`, genetics.source=table, reduce={args.reduce})",
        "",
        f"- command: `OMP_NUM_THREADS={env['OMP_NUM_THREADS']} {command}`",
        f"- machine: {describe_machine()}",
        f"- load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; at end: "
        f"{load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} (other jobs share the 2 cores)",
        f"- date: {started}",
        f"- path: a TSV of random 658-bp barcodes over {SPECIES} species (written before the clock starts), then in "
        "a fresh subprocess: SHA-256 of the table for the cache key, every row read and checked, the dinucleotide "
        f"SGT a chunk of {args.chunk} rows at a time into per-species {args.reduce} anchors, the per-species cache "
        "written; peak RSS = the child's `ru_maxrss`",
        "",
        "| rows | table (MiB) | wall s | CPU s | rows/s (wall) | peak RSS (MiB) | species | cache file (KiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        cpu = f"{r['cpu_seconds']:.1f}" if "cpu_seconds" in r else "-"
        lines.append(
            f"| {r['n']:,} | {r['table_bytes'] / 2**20:,.0f} | {r['seconds']:.1f} | {cpu} | {r['n'] / r['seconds']:,.0f} | "
            f"{r['rss'] / 2**20:,.0f} | {r['species']:,} | {r['cache_bytes'] / 2**10:,.0f} |"
        )
    lines += [
        "",
        f"5 M rows, extrapolated linearly from {largest['n']:,} (not measured): {seconds_5m:,.0f} s "
        f"({seconds_5m / 60:.1f} min) of wall time, "
        + (
            f"peak RSS {rss_5m / 2**20:,.0f} MiB (RSS slope {slope * 1e6 / 2**20:.1f} MiB per million rows between "
            f"{a['n']:,} and {b['n']:,})."
            if b["n"] > a["n"]
            else "peak RSS not extrapolated (one size measured)."
        )
        + " The vectors in memory are one chunk's and the per-species sums (or reservoirs); what grows with the "
        "rows is the reader's set of the ids seen so far (its duplicate-accession check, one string per row).",
        "",
    ]
    if args.reduce != "mean":
        bound = SPECIES * DEFAULT_MEDOID_BOUND * 256 * 4
        lines += [
            f"The {args.reduce} reservoirs grow until a species holds {DEFAULT_MEDOID_BOUND} rows, then stay flat: "
            f"at most {SPECIES:,} x {DEFAULT_MEDOID_BOUND} x 256 float32 = {bound / 2**20:,.0f} MiB (computed, "
            "plus numpy's per-row overhead); "
            + (
                f"{largest['n']:,} rows ({largest['n'] // SPECIES:,} per species) fill every reservoir, so its time "
                f"includes the {args.reduce} of {SPECIES:,} full reservoirs and its memory the full bound."
                if largest["n"] // SPECIES > DEFAULT_MEDOID_BOUND
                else "below that bound the sizes here do not show it."
            ),
            "",
        ]
    replace_section(args.out, f"anchor-table-{args.reduce}", lines)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
