"""The Mantel test: is one distance matrix correlated with another?

Used to check that ForamSim's species traits follow the real genetic distances (and stop following
them at Pagel's lambda = 0), and reusable for image-embedding versus genetic-anchor distances.
Pure numpy, deterministic given ``seed``.
"""

from __future__ import annotations

import numpy as np


def _check_square(d: np.ndarray, name: str) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"{name} must be a square distance matrix, got shape {d.shape}")
    if not np.allclose(d, d.T):
        raise ValueError(f"{name} must be symmetric")
    return d


def mantel(d1: np.ndarray, d2: np.ndarray, *, permutations: int = 999, seed: int = 0) -> tuple[float, float]:
    """Pearson Mantel test between two distance matrices, one-sided (positive association).

    The statistic is the Pearson correlation between the upper triangles. Its null distribution comes
    from relabelling the objects of ``d1`` (rows and columns permuted together), which keeps the
    dependence between the entries of a distance matrix that an ordinary correlation test ignores.

    Args:
        d1: ``[N, N]`` symmetric distances, N >= 3.
        d2: ``[N, N]`` symmetric distances over the same objects in the same order.
        permutations: number of random relabellings.
        seed: seed of the permutation generator.

    Returns:
        ``(r, p)``: the correlation and ``(1 + #{r_perm >= r}) / (1 + permutations)``.

    Raises:
        ValueError: shapes differ, a matrix is not square/symmetric, N < 3, or a matrix is constant.
    """
    a, b = _check_square(d1, "d1"), _check_square(d2, "d2")
    if a.shape != b.shape:
        raise ValueError(f"d1 and d2 must have the same shape, got {a.shape} and {b.shape}")
    n = a.shape[0]
    if n < 3:
        raise ValueError(f"the Mantel test needs at least 3 objects, got {n}")
    iu = np.triu_indices(n, 1)
    y = b[iu] - b[iu].mean()
    y_norm = np.linalg.norm(y)
    if y_norm == 0 or np.ptp(a[iu]) == 0:
        raise ValueError("a constant distance matrix has no correlation")
    y /= y_norm

    def corr(x: np.ndarray) -> np.ndarray:
        # x: [P, M] upper triangles; Pearson r of each row with y, vectorised over permutations.
        x = x - x.mean(axis=1, keepdims=True)
        return (x @ y) / np.linalg.norm(x, axis=1)

    r = float(corr(a[iu][None, :])[0])
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(n) for _ in range(permutations)]) if permutations else None
    if perms is None:
        return r, 1.0
    # a[perm][:, perm] at the upper-triangle positions, for every permutation at once: [P, M].
    permuted = a[perms[:, iu[0]], perms[:, iu[1]]]
    r_perm = corr(permuted)
    # A tiny tolerance so that a permutation reproducing the observed matrix counts as ">=".
    p = (1 + int(np.sum(r_perm >= r - 1e-12))) / (1 + permutations)
    return r, p


def tree_signal(
    anchors: np.ndarray, tree: np.ndarray, *, permutations: int = 999, seed: int = 0
) -> tuple[float, float]:
    """How much of a species tree an anchor set carries, before any training: the Mantel correlation between the
    anchors' Euclidean distances and the tree's (patristic) distances.

    Args:
        anchors: ``[S, D]`` one row per species.
        tree: ``[S, S]`` tree distances between the same species in the same order.
        permutations, seed: as :func:`mantel`.

    Returns:
        ``(r, p)``; NaN for both when the anchors or the tree's tips are all equally far apart (a constant
        distance matrix has no correlation).
    """
    a = np.asarray(anchors, dtype=np.float64)
    d = np.sqrt(np.maximum(((a[:, None, :] - a[None, :, :]) ** 2).sum(-1), 0.0))
    upper = np.triu_indices_from(d, 1)
    if np.ptp(d[upper]) == 0 or np.ptp(np.asarray(tree, dtype=np.float64)[upper]) == 0:
        return float("nan"), float("nan")
    return mantel(d, np.asarray(tree, dtype=np.float64), permutations=permutations, seed=seed)
