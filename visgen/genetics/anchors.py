"""Per-species genetic anchors and their geometry (pure numpy, torch-free).

The paper's anchor for a species is the mean SGT embedding of its sequences. Raw SGT anchors of
the 32 species are nearly parallel (pairwise cosine ~0.94-0.999 on the real data), so a cosine
alignment to them separates species only weakly; ``preprocess_anchors`` offers centring and
whitening, and ``control_anchors`` the controls that tell genetic structure from mere geometry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STATISTICS = ("mean", "median", "medoid")
ANCHOR_MODES = ("raw", "centred", "whitened")
CONTROLS = ("none", "shuffled", "random")


def species_anchors(
    embeddings: np.ndarray, species: Sequence[str], statistic: str = "mean"
) -> tuple[list[str], np.ndarray]:
    """One anchor per species.

    Args:
        embeddings: [N, D] per-sequence embeddings.
        species: N species names, one per row.
        statistic: ``"mean"`` (the paper), ``"median"`` (per coordinate) or ``"medoid"`` (the member
            with the smallest summed Euclidean distance to the other members; an actual sequence).

    Returns:
        ``(names, anchors)``: the S distinct species sorted by name, and anchors [S, D] in that order.

    Raises:
        ValueError: an unknown statistic, or ``species`` not of length N.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if len(species) != len(embeddings):
        raise ValueError(f"{len(species)} species names for {len(embeddings)} embeddings")
    names = sorted(set(species))
    labels = np.array([names.index(s) for s in species]) if names else np.zeros(0, dtype=int)
    anchors = np.empty((len(names), embeddings.shape[1]))
    for k in range(len(names)):
        rows = embeddings[labels == k]
        if statistic == "mean":
            anchors[k] = rows.mean(axis=0)
        elif statistic == "median":
            anchors[k] = np.median(rows, axis=0)
        else:
            dist = np.linalg.norm(rows[:, None, :] - rows[None, :, :], axis=-1)
            anchors[k] = rows[int(np.argmin(dist.sum(axis=1)))]  # first of ties: deterministic
    return names, anchors


def preprocess_anchors(anchors: np.ndarray, mode: str = "raw") -> np.ndarray:
    """Re-express anchors before alignment.

    Args:
        anchors: [S, D] species anchors.
        mode: ``"raw"`` (the paper), ``"centred"`` (subtract the mean anchor, so cosines measure how a
            species differs from the average species), or ``"whitened"`` (PCA-whitening of the anchor
            set, mapped back to D dimensions).

    Returns:
        [S, D] float64 anchors.

    Note:
        Whitening is limited by rank: S centred anchors span at most S - 1 dimensions (31 for the
        paper's 32 species, far below D = 256), so only that subspace can be whitened and the other
        directions are dropped. Within it, whitening gives every direction unit variance, which makes
        the S anchors a regular simplex: all pairwise cosines become -1/(S-1). It therefore removes
        the genetic similarity structure entirely and keeps only "the species are distinct" —
        useful as a contrast to ``centred``, which keeps the structure.

    Raises:
        ValueError: an unknown mode.
    """
    anchors = np.asarray(anchors, dtype=np.float64)
    if mode == "raw":
        return anchors.copy()
    if mode not in ANCHOR_MODES:
        raise ValueError(f"anchor mode must be one of {ANCHOR_MODES}, got {mode!r}")
    centred = anchors - anchors.mean(axis=0)
    if mode == "centred":
        return centred
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    rank = int((s > s.max(initial=0.0) * max(centred.shape) * np.finfo(float).eps).sum())
    # ZCA-style: whitened scores U * sqrt(S-1) rotated back by V^T, so the result lives in the
    # anchors' own span of R^D and has identity covariance there.
    return np.sqrt(max(len(anchors) - 1, 1)) * u[:, :rank] @ vt[:rank]


def control_anchors(anchors: np.ndarray, kind: str = "none", seed: int = 0) -> np.ndarray:
    """Control anchors that keep the geometry but break the genetics.

    Args:
        anchors: [S, D] species anchors (after ``preprocess_anchors``).
        kind: ``"none"`` (unchanged), ``"shuffled"`` (rows permuted with no species keeping its
            own anchor: identical pairwise geometry, wrong assignment), or ``"random"`` (S draws
            from a Gaussian with the anchors' mean and covariance: comparable cosine statistics,
            random species structure).
        seed: random seed; the same seed gives the same control.

    Returns:
        [S, D] float64 anchors.

    Raises:
        ValueError: an unknown kind, or ``"shuffled"`` with fewer than 2 species.
    """
    anchors = np.asarray(anchors, dtype=np.float64)
    if kind == "none":
        return anchors.copy()
    rng = np.random.default_rng(seed)
    n = len(anchors)
    if kind == "shuffled":
        if n < 2:
            raise ValueError("a shuffled control needs at least 2 species")
        while True:  # rejection sampling of a derangement: accepted with probability ~1/e
            perm = rng.permutation(n)
            if not (perm == np.arange(n)).any():
                return anchors[perm]
    if kind == "random":
        mean = anchors.mean(axis=0)
        centred = anchors - mean
        # x = mean + centred^T g / sqrt(S-1), g ~ N(0, I_S), has exactly the anchors' (rank-deficient)
        # covariance centred^T centred / (S-1), without factorising a singular D x D matrix.
        g = rng.standard_normal((n, n))
        return mean + g @ centred / np.sqrt(max(n - 1, 1))
    raise ValueError(f"control must be one of {CONTROLS}, got {kind!r}")


def anchor_geometry(anchors: np.ndarray) -> dict[str, float]:
    """Summary of the pairwise cosine similarities between anchors (for logs).

    Args:
        anchors: [S, D] anchors, S >= 2.

    Returns:
        ``{"cos_min", "cos_median", "cos_max"}`` over the S(S-1)/2 distinct pairs, plus ``"rank"``
        of the centred anchor set.
    """
    anchors = np.asarray(anchors, dtype=np.float64)
    norms = np.linalg.norm(anchors, axis=1, keepdims=True)
    unit = anchors / np.where(norms > 0, norms, 1.0)
    cos = (unit @ unit.T)[np.triu_indices(len(anchors), k=1)]
    centred = anchors - anchors.mean(axis=0)
    return {
        "cos_min": float(cos.min()),
        "cos_median": float(np.median(cos)),
        "cos_max": float(cos.max()),
        "rank": float(np.linalg.matrix_rank(centred)),
    }


def equiangular_anchors(n: int) -> np.ndarray:
    """``n`` unit anchors with every pairwise cosine ``-1/(n-1)`` (a regular simplex), [n, n].

    Rows of the centring matrix ``I - 11^T/n``, scaled to unit length: maximally separated and carrying no
    similarity structure at all, the pure-geometry control of the anchor ladder.
    """
    if n < 2:
        raise ValueError("an equiangular anchor set needs at least 2 species")
    rows = np.eye(n) - 1.0 / n
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)
