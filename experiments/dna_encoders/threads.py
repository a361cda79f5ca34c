"""How far float noise alone moves a GZSL cell: the same cells trained with another CPU thread count.

CPU float reductions depend on the thread count (1 and 2 threads give different weights), so training the same
cell with OMP_NUM_THREADS=2 into a fresh cache is a cheap stand-in for "the same grid on another machine": only the
last bits of every sum differ. Cells are paired by (tree, λ, fold, seed); for each rung and method this prints the
change of ZSL top-1 and of the gap to shuffled anchors, per cell and for the mean over the paired cells of each λ.

    OMP_NUM_THREADS=2 VISGEN_CACHE=/tmp/cache_t2 python run.py -m +sweep=gzsl profile=quick_gzsl seed=0 \\
      'data.sim_seed=${seed}' data.sim_published=false 'gzsl.encoders=[sgt,kmer,aligned,identity]' \\
      'gzsl.permutation.anchors=[sgt_raw,sgt_centred,kmer_centred,aligned_raw,aligned_centred,identity_raw,identity_centred]' \\
      callbacks.progress_bar=null data.sim_tree=aze2011 hydra.sweep.dir=multirun/threads2_aze2011_seed0
    python experiments/dna_encoders/threads.py multirun/dna_encoders_quick_aze2011_l1.0 \\
      multirun/dna_encoders_quick_aze2011_l0.0 --vs multirun/threads2_aze2011_seed0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from visgen.eval.zeroshot import METHODS  # noqa: E402
from visgen.report.dna_encoders import _tree  # noqa: E402
from visgen.report.gzsl import _value, collect, genetic_rungs  # noqa: E402


def _key(cell: dict) -> tuple:
    return _tree(cell), cell["lambda"], cell["fold"], cell["seed"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, nargs="+", help="sweep folders of the reference run")
    parser.add_argument("--vs", type=Path, nargs="+", required=True, help="sweep folders of the rerun")
    args = parser.parse_args(argv)
    base = {_key(c): c for d in args.base for c in collect(d)}
    other = {_key(c): c for d in args.vs for c in collect(d)}
    pairs = sorted(set(base) & set(other))
    if not pairs:
        raise SystemExit("error: no cell is in both runs; give the reference sweeps and --vs the rerun's")
    machines = sorted({c["machine"] for c in base.values()} | {c["machine"] for c in other.values()})
    print(f"{len(pairs)} paired cells; machines: {' | '.join(machines)}")
    # The tree oracle, every encoder's raw rung both runs scored, and the shuffled control.
    raw = [a for a in genetic_rungs([base[k] for k in pairs]) if a.endswith("_raw")]
    rungs = ["oracle_tree", *(a for a in raw if a in genetic_rungs([other[k] for k in pairs])), "shuffled"]
    for lam in sorted({k[1] for k in pairs}, reverse=True):
        keys = [k for k in pairs if k[1] == lam]
        print(f"\nλ = {lam:g} ({len(keys)} cells): rerun − reference, pp")
        print(f"{'rung':13s} {'method':7s} {'top-1 mean':>10s} {'cell |Δ| mean':>13s} {'max':>5s} "
              f"{'gap Δ of the mean':>17s} {'cell gap |Δ| max':>16s}")  # fmt: skip
        for rung in rungs:
            for method in METHODS:
                top = [100 * (_value(other[k], rung, method, "zsl_top1") - _value(base[k], rung, method, "zsl_top1"))
                       for k in keys]  # fmt: skip
                shuffled = [100 * (_value(other[k], "shuffled", method, "zsl_top1")
                                   - _value(base[k], "shuffled", method, "zsl_top1")) for k in keys]  # fmt: skip
                gap = np.subtract(top, shuffled)
                print(f"{rung:13s} {method:7s} {np.mean(top):+10.1f} {np.mean(np.abs(top)):13.1f} "
                      f"{np.max(np.abs(top)):5.1f} {np.mean(gap):+17.1f} {np.max(np.abs(gap)):16.1f}")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
