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
