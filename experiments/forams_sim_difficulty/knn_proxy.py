"""A cheap difficulty proxy for ForamSim: KNN and logistic regression on rotation-invariant features.

Not the real baseline (a ResNet50 is far stronger than these features): it only shows that the
synthetic task is neither trivial nor impossible, that rare species are harder, and how the knobs
move it. Features per image (all rotation-invariant, since specimens are rotated at random):
the radial intensity profile (24 rings), the magnitudes of the first 8 angular Fourier modes of 6
rings (chamber count shows up as a dominant mode), and a 16-bin intensity histogram.

    python experiments/forams_sim_difficulty/knn_proxy.py --scale 0.1 --size 64
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from visgen.sim.forams_sim import simulate  # noqa: E402
from visgen.sim.shells import TRAIT_NAMES  # noqa: E402


def features(img: np.ndarray) -> np.ndarray:
    """Rotation-invariant descriptor of one ``[S, S]`` uint8 image -> float ``[24 + 6*8 + 16]``."""
    s = img.shape[0]
    x = img.astype(np.float32) / 255
    yy, xx = np.mgrid[:s, :s] + 0.5 - s / 2
    r = np.hypot(xx, yy) / (s / 2)
    ring = np.minimum((r * 24).astype(int), 23)
    radial = np.bincount(ring.ravel(), x.ravel(), 24) / np.maximum(np.bincount(ring.ravel(), None, 24), 1)
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    modes = []
    for rad in np.linspace(0.15, 0.8, 6):
        px = np.clip((s / 2 + rad * s / 2 * np.cos(angles)).astype(int), 0, s - 1)
        py = np.clip((s / 2 + rad * s / 2 * np.sin(angles)).astype(int), 0, s - 1)
        spectrum = np.abs(np.fft.rfft(x[py, px]))[1:9] / 64
        modes.append(spectrum)
    hist = np.histogram(x, bins=16, range=(0, 1))[0] / x.size
    return np.concatenate([radial, *modes, hist])


def evaluate(root: Path) -> dict[str, float]:
    with open(root / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    species = sorted({r["species"] for r in rows})
    label = {s: i for i, s in enumerate(species)}
    feats = np.stack([features(np.asarray(Image.open(root / r["path"]))) for r in rows])
    y = np.array([label[r["species"]] for r in rows])
    split = np.array([r["split"] for r in rows])
    train, test = split == "train", split == "test"
    scaler = StandardScaler().fit(feats[train])
    xtr, xte = scaler.transform(feats[train]), scaler.transform(feats[test])
    counts = np.bincount(y[train], minlength=len(species))
    # Rare = medium + few shot at full scale (<= 100 training images), as in visgen.eval.longtail.
    scale = len(rows) / 27729
    rare = counts / scale <= 100
    # Upper-bound probe: the true specimen traits from the manifest, as if perceived perfectly.
    traits = np.array(
        [[float(r[t]) for t in TRAIT_NAMES if t != "dextral"] + [r["coiling"] == "dextral"] for r in rows]
    )
    tscaler = StandardScaler().fit(traits[train])
    out = {}
    for name, clf, (a, b) in [
        ("knn5", KNeighborsClassifier(5), (xtr, xte)),
        ("logreg", LogisticRegression(max_iter=2000, C=1.0), (xtr, xte)),
        (
            "trait_oracle_logreg",
            LogisticRegression(max_iter=2000, C=1.0),
            tuple(tscaler.transform(traits[m]) for m in (train, test)),
        ),
    ]:
        pred = clf.fit(a, y[train]).predict(b)
        per_class = np.array([np.mean(pred[y[test] == c] == c) for c in range(len(species))])
        out[f"{name}/acc"] = float(np.mean(pred == y[test]))
        out[f"{name}/per_class_acc"] = float(per_class.mean())
        out[f"{name}/rare_per_class_acc"] = float(per_class[rare].mean())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phylo-signal", type=float, default=1.0)
    parser.add_argument("--intra-spread", type=float, default=None)
    parser.add_argument("--nuisance", type=float, default=None)
    ns = parser.parse_args()
    knobs = {
        k: v for k, v in {"intra_spread": ns.intra_spread, "nuisance": ns.nuisance}.items() if v is not None
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = simulate(
            Path(tmp) / "sim",
            scale=ns.scale,
            size=ns.size,
            seed=ns.seed,
            phylo_signal=ns.phylo_signal,
            **knobs,
        )
        for key, value in evaluate(root).items():
            print(f"{key}: {value:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
