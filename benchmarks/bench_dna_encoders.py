"""Every registered DNA encoder on the shipped 18S and on random 658-bp barcodes: seconds and peak memory.

Each measurement runs in a fresh Python process (so one encoder's memory does not inflate another's peak) that
builds its input, records its resident set size (RSS), encodes once, and reports the wall seconds and its peak
RSS (``resource.getrusage``, the high-water mark of the whole process: Python, numpy, the input and the output).

* 18S: the 854 usable shipped records (``iupac=skip``, the runs' reader setting), grouped by species for
  per-species encoders (how a run calls them).
* Barcodes: 658-bp sequences from a star of species (one random root; each species 10 % substitutions from
  it, each barcode 2 % from its species; 10 barcodes per species), so an alignment of them is meaningful.
  Per-sequence encoders get 100k; the per-species ones (aligned: FAMSA of every sequence, NJ over species;
  identity: every pair of species) get 1k and 5k, since their cost grows faster than linearly and 100k does
  not fit this machine's time budget.

    python benchmarks/bench_dna_encoders.py            # -> reports/bench/dna_encoders.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without `pip install -e .`

BARCODE = 658
PER_SPECIES = 10


def _barcodes(n: int, seed: int = 0) -> dict[str, list[str]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    root = rng.integers(0, 4, BARCODE)
    letters = np.frombuffer(b"acgt", dtype=np.uint8)
    out: dict[str, list[str]] = {}
    for s in range(-(-n // PER_SPECIES)):
        species = np.where(rng.random(BARCODE) < 0.10, rng.integers(0, 4, BARCODE), root)
        size = min(PER_SPECIES, n - s * PER_SPECIES)
        hits = rng.random((size, BARCODE)) < 0.02
        seqs = np.where(hits, rng.integers(0, 4, (size, BARCODE)), species)
        out[f"sp{s:05d}"] = [letters[row].tobytes().decode() for row in seqs]
    return out


def _shipped() -> dict[str, list[str]]:
    from visgen.genetics.fasta import read_fasta
    from visgen.resources import data_path

    out: dict[str, list[str]] = {}
    for r in read_fasta(data_path("foram_18S_rDNA.fasta")).records:
        out.setdefault(r.species, []).append(r.sequence)
    return out


def measure(encoder_name: str, data: str, n: int) -> dict:
    """In this process: build the input, encode once, return seconds and RSS (MiB) before and at peak."""
    import resource
    import time

    from visgen.genetics.encoders import ENCODERS

    by_species = _shipped() if data == "18S" else _barcodes(n)
    encoder = ENCODERS.get(encoder_name)()
    if encoder.per_species:  # import the aligner and tree library before the clock starts
        import pyfamsa  # noqa: F401
        import skbio  # noqa: F401
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if encoder.per_species:
        _, vectors = encoder.encode_species(by_species)
    else:
        vectors = encoder.encode([s for seqs in by_species.values() for s in seqs])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_seq = sum(map(len, by_species.values()))
    return {"seconds": seconds, "rss_before": before, "rss_peak": peak, "n": n_seq,
            "species": len(by_species), "shape": list(vectors.shape)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "dna_encoders.md")
    parser.add_argument("--child", nargs=3, metavar=("ENCODER", "DATA", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], int(args.child[2]))))
        return 0

    from visgen.genetics.encoders import ENCODERS

    rows = []
    for name in ENCODERS.names():
        sizes = [0] + ([1000, 5000] if ENCODERS.get(name).per_species else [100_000])
        for n in sizes:
            data = "18S" if n == 0 else "barcodes"
            cmd = [sys.executable, __file__, "--child", name, data, str(n)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ)
            if proc.returncode != 0:
                rows.append(
                    f"| {name} | {data} | - | - | - | - | failed: {proc.stderr.strip().splitlines()[-1]} |"
                )
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(
                f"| {name} | {data} | {r['n']:,} ({r['species']:,} species) | {r['seconds']:.2f} | "
                f"{r['rss_peak']:,.0f} | {r['rss_peak'] - r['rss_before']:,.0f} | {r['shape'][0]:,} x {r['shape'][1]:,} |"
            )
            print(rows[-1], flush=True)
    # Only now: a child's ru_maxrss starts at its parent's RSS at fork (Linux), so the parent stays light until here.
    import torch

    from visgen.run.machine import cpu_model

    command = "python benchmarks/bench_dna_encoders.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    report = f"""# DNA encoders: seconds and peak memory

Command: `{command.strip()}`
Date: {dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
Machine: {platform.node()}, {cpu_model()}, {os.cpu_count()} logical CPUs, load average {load} (1/5/15 min);
torch CPU capability {torch.backends.cpu.get_cpu_capability()}, torch threads {torch.get_num_threads()}
(the encoders are numpy; FAMSA runs on 1 thread), OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS", "unset")}
Encoders at their yaml defaults (conf/genetics/encoder/*.yaml); one run each, in a fresh process.

| encoder | data | sequences | wall s | peak RSS MiB | RSS added MiB | output |
| --- | --- | ---: | ---: | ---: | ---: | --- |
{chr(10).join(rows)}

18S = the shipped FASTA's 854 usable records (862-3501 bp; 39 species as the headers name them, no synonym table). Barcodes = random 658-bp sequences, 10 per species
(species 10 % from a common root, barcodes 2 % from their species). "RSS added" = peak RSS minus the RSS
after the input was built and, for the per-species encoders, after importing pyfamsa and scikit-bio (the encoder's
own working memory and output; 0 = below the high-water mark of the imports). Importing scikit-bio alone takes
~820 MiB and ~3 s here, because scikit-bio imports torch when it is installed.
The per-species encoders were not run on 100k barcodes: FAMSA's all-sequence alignment and identity's all pairs of
species grow faster than linearly (compare their 1k and 5k rows; identity is quadratic in the number of species)
and the 2-core machine is shared; they are measured at 1k and 5k instead.
The development machine's 2 cores are shared with other jobs; timings vary with the load shown above.
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
