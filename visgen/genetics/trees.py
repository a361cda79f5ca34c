"""Tree arithmetic on species distance matrices (pure numpy/scipy)."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform


def tree_covariance(dist: np.ndarray) -> np.ndarray:
    """Shared-path covariance of the UPGMA tree built from ``dist``, with unit tip depth.

    In an ultrametric tree of height H, the path shared by tips i and j from the root has length
    ``H - h(mrca(i, j))`` and ``h(mrca) = cophenetic(i, j) / 2``; that is the Brownian-motion covariance.

    Args:
        dist: ``[N, N]`` symmetric distances.

    Returns:
        ``[N, N]`` float64 covariance with ones on the diagonal.
    """
    from scipy.cluster.hierarchy import cophenet

    z = linkage(squareform(dist, checks=False), method="average")
    coph = squareform(cophenet(z))
    height = coph.max() / 2.0
    cov = (height - coph / 2.0) / height
    np.fill_diagonal(cov, 1.0)
    return cov


def patristic_from_covariance(cov: np.ndarray) -> np.ndarray:
    """Patristic (path-length) distances of a tree from its shared-path covariance.

    ``C[i, j]`` is the length of the root-to-MRCA path that tips i and j share and ``C[i, i]`` a tip's
    depth, so the path between i and j runs ``C[i, i] - C[i, j]`` up from i and ``C[j, j] - C[i, j]``
    down to j: ``d[i, j] = C[i, i] + C[j, j] - 2 C[i, j]``. With unit tip depth (``tree_covariance``),
    d lies in [0, 2]: 0 for a tip with itself, 2 for tips that meet only at the root.

    Args:
        cov: ``[N, N]`` symmetric shared-path covariance.

    Returns:
        ``[N, N]`` float64 distances, symmetric, zero on the diagonal.
    """
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"patristic_from_covariance: a square covariance is needed, got shape {cov.shape}")
    tip = np.diag(cov)
    # Rounding can leave a sister pair a hair below zero; a path length is never negative.
    dist = np.maximum(tip[:, None] + tip[None, :] - 2.0 * cov, 0.0)
    np.fill_diagonal(dist, 0.0)
    return dist
