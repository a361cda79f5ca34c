"""The report's figures, each a function from arrays to a PNG (matplotlib's object API, no pyplot state).

Drawing through ``matplotlib.figure.Figure`` instead of ``pyplot`` keeps these safe in a training
process (no GUI backend, no global figure list to leak) and needs no ``matplotlib.use("Agg")``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

_DPI = 110


def _colours(n: int) -> np.ndarray:
    """``n`` distinguishable RGBA colours [n, 4] (tab20 then tab20b, cycled)."""
    from matplotlib import colormaps

    base = np.vstack([colormaps["tab20"](np.arange(20)), colormaps["tab20b"](np.arange(20))])
    return base[np.arange(n) % len(base)]


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    return path


def per_class_vs_count(series: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Per-class test accuracy against training images per class (log x), one series per model.

    Args:
        series: label -> (``n_train`` [C], ``acc`` [C] as fractions) for the same or different classes.
        path: output PNG.
    """
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for (label, (n_train, acc)), marker in zip(series.items(), "os^Dv<>", strict=False):
        order = np.argsort(n_train)
        ax.plot(
            np.asarray(n_train)[order], 100 * np.asarray(acc)[order], marker=marker, ms=4, lw=0.8, label=label
        )
    ax.set_xscale("log")
    ax.set_xlabel("training images of the species (log)")
    ax.set_ylabel("per-class test accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)


def _tsne(points: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    # Perplexity must stay below the number of points; 30 is sklearn's default for larger sets.
    perplexity = float(min(30, max(2, (len(points) - 1) // 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    # One thread: after a training step in the same process (the pipeline logs plots after each stage), sklearn's
    # own OpenMP runtime and torch's contend for the cores; t-SNE of 56 points took 16.9 s instead of 0.25 s
    # (2-core VM, 2026-11-29: 20 torch backward steps, then TSNE with and without this limit). The output is the
    # same: 300 points, 2 threads vs 1, max abs difference 0.0.
    with threadpool_limits(limits=1):
        return tsne.fit_transform(points)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def embedding_tsne(
    panels: Mapping[str, tuple[np.ndarray, np.ndarray]],
    n_classes: int,
    path: Path,
    *,
    anchors: Mapping[str, np.ndarray] | None = None,
    max_points: int = 1500,
    seed: int = 0,
) -> Path:
    """t-SNE of embedding spaces side by side, coloured by species, anchors as outlined stars.

    Embeddings and anchors are L2-normalised first: alignment is by cosine, so direction is what
    the two share. Anchors are embedded together with the points of their panel.

    Args:
        panels: title -> (embeddings [N, D], labels [N] class indices).
        n_classes: number of species (fixes the colours across panels).
        path: output PNG.
        anchors: title -> anchors [C, D] (row c = species c) for the panels that have them.
        max_points: a seeded subsample per panel keeps t-SNE within seconds on a CPU.
        seed: subsampling and t-SNE seed.
    """
    colours = _colours(n_classes)
    fig = Figure(figsize=(6 * len(panels), 5.5))
    rng = np.random.default_rng(seed)
    for i, (title, (emb, labels)) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        keep = rng.permutation(len(emb))[:max_points] if len(emb) > max_points else np.arange(len(emb))
        pts, lab = _unit(emb[keep]), np.asarray(labels)[keep]
        anc = anchors.get(title) if anchors else None
        xy = _tsne(np.vstack([pts, _unit(anc)]) if anc is not None else pts, seed)
        ax.scatter(xy[: len(pts), 0], xy[: len(pts), 1], c=colours[lab], s=6, alpha=0.7, linewidths=0)
        if anc is not None:
            a = xy[len(pts) :]
            ax.scatter(
                a[:, 0], a[:, 1], c=colours[: len(a)], marker="*", s=220, edgecolors="black", linewidths=0.8
            )
        ax.set_title(title + (" (★ = genetic anchors)" if anc is not None else ""))
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


def confusion_matrix(
    labels: np.ndarray, pred: np.ndarray, species: Sequence[str], path: Path, *, k: int
) -> Path:
    """Row-normalised confusion matrix (true species = rows), species in the given order.

    Args:
        labels: true class indices [M]. pred: predicted class indices [M]. species: names [C].
        k: the KNN's k that made ``pred`` (for the axis label).
    """
    c = len(species)
    counts = np.zeros((c, c), dtype=np.float64)
    np.add.at(counts, (np.asarray(labels), np.asarray(pred)), 1.0)
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    side = max(5.0, 0.22 * c + 2)
    fig = Figure(figsize=(side + 1, side))
    ax = fig.add_subplot()
    im = ax.imshow(norm, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(c), [s.replace("_", " ") for s in species], rotation=90, fontsize=6)
    ax.set_yticks(range(c), [s.replace("_", " ") for s in species], fontsize=6)
    ax.set_xlabel(f"predicted (KNN, k = {k})")
    ax.set_ylabel("true species")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true species' test images")
    return _save(fig, path)


def pairwise_euclidean(x: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix [S, S] between the rows of ``x`` [S, D]."""
    x = np.asarray(x, dtype=np.float64)
    sq = (x * x).sum(axis=1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0))


def class_centroids(emb: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean embedding per class [C, D]; a class without samples gets NaN."""
    out = np.full((n_classes, emb.shape[1]), np.nan)
    for c in range(n_classes):
        if np.any(labels == c):
            out[c] = emb[labels == c].mean(axis=0)
    return out


def genetic_vs_visual(
    genetic: np.ndarray,
    visual: Mapping[str, np.ndarray],
    path: Path,
    *,
    permutations: int = 999,
    seed: int = 0,
) -> tuple[Path, dict[str, tuple[float, float]]]:
    """Scatter of genetic vs visual distance between species, with the Mantel r and p per visual space.

    Euclidean distance on both sides: unlike cosine it is unchanged when anchors are centred.

    Args:
        genetic: genetic anchors [S, D_g] (row s = species s).
        visual: title -> visual class centroids [S, D_v] (rows with NaN — species absent — are dropped).
        path: output PNG.

    Returns:
        The PNG path and ``{title: (mantel r, p)}``.
    """
    from visgen.eval.mantel import mantel  # imported here: a sibling module, optional for the table

    fig = Figure(figsize=(5.5 * len(visual), 4.5))
    stats: dict[str, tuple[float, float]] = {}
    for i, (title, cent) in enumerate(visual.items()):
        ok = ~np.isnan(cent).any(axis=1)
        dg, dv = pairwise_euclidean(genetic[ok]), pairwise_euclidean(cent[ok])
        r, p = mantel(dg, dv, permutations=permutations, seed=seed)
        stats[title] = (float(r), float(p))
        iu = np.triu_indices(int(ok.sum()), k=1)
        ax = fig.add_subplot(1, len(visual), i + 1)
        ax.scatter(dg[iu], dv[iu], s=6, alpha=0.5)
        ax.set_xlabel("genetic distance (SGT anchors, Euclidean)")
        ax.set_ylabel("visual distance (class centroids, Euclidean)")
        ax.set_title(f"{title}: Mantel r = {r:.2f}, p = {p:.3f}")
    return _save(fig, path), stats


def gap_forest(
    panels: Mapping[str, Sequence[tuple[str, float, float, float, float]]], path: Path, xlabel: str
) -> Path:
    """A forest plot: one panel per key, one row per label, a mean with its interval per λ (or any two levels).

    Args:
        panels: panel title -> rows ``(label, level, mean, low, high)``; the rows of one label share a line and
            are told apart by colour (one colour per level, highest level first in the legend).
        path: output PNG.
        xlabel: the x axis (the 0 line is drawn: "no difference").
    """
    levels = sorted({r[1] for rows in panels.values() for r in rows}, reverse=True)
    colours = dict(zip(levels, _colours(2 * len(levels))[::2], strict=True))
    height = max(len({r[0] for r in rows}) for rows in panels.values()) if panels else 1
    # Constrained layout leaves room for each panel's own row labels (without it a second panel's labels overlap the first).
    fig = Figure(figsize=(5.5 * max(len(panels), 1), 1.2 + 0.32 * height), layout="constrained")
    for i, (title, rows) in enumerate(panels.items()):
        ax = fig.add_subplot(1, max(len(panels), 1), i + 1)
        labels = list(dict.fromkeys(r[0] for r in rows))
        for label, level, mean, low, high in rows:
            y = labels.index(label) + 0.15 * (levels.index(level) - (len(levels) - 1) / 2)
            ax.errorbar(mean, y, xerr=[[mean - low], [high - mean]], fmt="o", ms=4, capsize=2,
                        color=colours[level], label=f"λ = {level:g}")  # fmt: skip
        ax.axvline(0.0, color="k", lw=0.8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, axis="x")
        handles, names = ax.get_legend_handles_labels()
        unique = dict(zip(names, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), fontsize=8)
    return _save(fig, path)
