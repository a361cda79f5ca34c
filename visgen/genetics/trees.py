"""Tree arithmetic on species distance matrices (numpy/scipy; scikit-bio for neighbour joining). Torch-free."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

if TYPE_CHECKING:
    from skbio import TreeNode


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


def nj_tree(dist: np.ndarray, names: Sequence[str]) -> TreeNode:
    """Neighbour-joining tree (``skbio.tree.nj``), rooted at the midpoint of its longest tip-to-tip path.

    NJ may give an edge a small negative length when the distances are not additive; such edges are set to 0
    (a branch cannot be shorter than nothing, and the covariance below must stay positive semi-definite).

    Args:
        dist: [S, S] symmetric distances, zero diagonal, S >= 2.
        names: S distinct tip names.

    Returns:
        The rooted tree (``skbio.TreeNode``) with tips named ``names``.
    """
    from skbio import DistanceMatrix, TreeNode

    names = [str(n) for n in names]
    if len(names) == 2:  # NJ needs three tips; two tips joined at the midpoint of their distance
        half = float(dist[0, 1]) / 2
        return TreeNode.read([f"({names[0]}:{half!r},{names[1]}:{half!r});"])
    from skbio.tree import nj

    tree = nj(DistanceMatrix(np.asarray(dist, dtype=np.float64), ids=names))
    for node in tree.traverse(include_self=False):
        node.length = max(float(node.length or 0.0), 0.0)
    return tree.root_at_midpoint()


def shared_path_covariance(tree: TreeNode, names: Sequence[str]) -> np.ndarray:
    """``C[i, j]`` = length of the path the root shares with tips i and j = depth of MRCA(i, j); ``C[i, i]`` = depth of i.

    Under Brownian motion along the tree this is the covariance of the tips, and for any rooted tree
    ``C_ii + C_jj - 2 C_ij`` is the patristic (tip-to-tip) distance.

    Returns:
        float64 [S, S] in the order of ``names``.
    """
    index = {str(n): k for k, n in enumerate(names)}
    cov = np.zeros((len(index), len(index)))
    depth = {id(tree): 0.0}
    for node in tree.preorder(include_self=True):  # parents before children: deeper MRCAs overwrite shallower
        if node is not tree:
            depth[id(node)] = depth[id(node.parent)] + float(node.length or 0.0)
        below = [index[t.name] for t in node.tips(include_self=True)]
        cov[np.ix_(below, below)] = depth[id(node)]
    return cov


def patristic_distances(cov: np.ndarray) -> np.ndarray:
    """Tip-to-tip path lengths from the shared-path covariance: ``C_ii + C_jj - 2 C_ij`` -> [S, S]."""
    d = np.diag(cov)
    return np.maximum(d[:, None] + d[None, :] - 2 * cov, 0.0)


def sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root ``C^(1/2)`` of a positive semi-definite matrix (eigenvalues below 0 from rounding -> 0).

    Its rows ``e_i`` satisfy ``e_i . e_j = C_ij``, so ``||e_i - e_j||^2`` is the patristic distance when C is a
    tree's shared-path covariance.
    """
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def classical_mds(dist: np.ndarray) -> np.ndarray:
    """Classical (Torgerson) MDS: coordinates [S, K] whose Euclidean distances approximate ``dist`` [S, S].

    K = the number of positive eigenvalues of the double-centred ``-D^2 / 2`` (exact when ``dist`` is Euclidean).
    """
    n = len(dist)
    j = np.eye(n) - 1.0 / n
    b = -0.5 * j @ (np.asarray(dist, dtype=np.float64) ** 2) @ j
    w, v = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(w)[::-1]
    w, v = w[order], v[:, order]
    keep = w > 1e-12 * max(w[0], 1e-300)
    if not keep.any():
        return np.zeros((n, 1))
    return v[:, keep] * np.sqrt(w[keep])
