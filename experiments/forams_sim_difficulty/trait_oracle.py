"""How separable are ForamSim species if every trait were perceived perfectly?

Draws specimens exactly as ``simulate`` does (same seeds, counts and splits) but skips rendering, and
fits a logistic regression on the true specimen traits. An image model sees less than this (views
hide the spire or the aperture, blur and noise hide pores), so this bounds it from above and shows
how ``intra_spread`` sets the difficulty.

    python experiments/forams_sim_difficulty/trait_oracle.py --scale 0.3 --intra-spread 0.45 0.7 1.0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from visgen.sim import forams_sim
from visgen.sim.shells import TRAIT_NAMES, sample_specimen


def oracle(scale: float, intra: float, seed: int, phylo_signal: float) -> tuple[float, float, float]:
    """Overall, mean per-class and rare-class (<= 100 full-scale training images) test accuracy."""
    names, latents = forams_sim.species_latents(seed, phylo_signal)
    x, y, split = [], [], []
    for s_idx, (name, n) in enumerate(forams_sim.species_counts(scale)):
        labels = forams_sim.split_labels(n, np.random.default_rng([seed, s_idx, 0x5B11]))
        for i in range(n):
            rng = np.random.default_rng([seed, s_idx, i])
            sp = sample_specimen(name, latents[s_idx], rng, intra_spread=intra, nuisance=1.0)
            x.append([sp.traits[t] for t in TRAIT_NAMES if t != "dextral"] + [float(sp.dextral)])
            y.append(s_idx)
            split.append(labels[i])
    xa, ya, sa = np.array(x), np.array(y), np.array(split)
    train, test = sa == "train", sa == "test"
    scaler = StandardScaler().fit(xa[train])
    clf = LogisticRegression(max_iter=3000).fit(scaler.transform(xa[train]), ya[train])
    pred = clf.predict(scaler.transform(xa[test]))
    per_class = np.array([np.mean(pred[ya[test] == c] == c) for c in range(len(names))])
    rare = np.bincount(ya[train], minlength=len(names)) / scale <= 100
    return float(np.mean(pred == ya[test])), float(per_class.mean()), float(per_class[rare].mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phylo-signal", type=float, default=1.0)
    parser.add_argument("--intra-spread", type=float, nargs="+", default=[0.45, 0.7, 1.0])
    ns = parser.parse_args()
    print("| intra_spread | overall | per-class | rare per-class |\n| --- | --- | --- | --- |")
    for intra in ns.intra_spread:
        acc, per_class, rare = oracle(ns.scale, intra, ns.seed, ns.phylo_signal)
        print(f"| {intra} | {acc:.3f} | {per_class:.3f} | {rare:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
