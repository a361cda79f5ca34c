"""Tree arithmetic on species distance matrices (numpy/scipy; scikit-bio for neighbour joining). Torch-free."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
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


def budding_divergence_ages(
    ancestor: Mapping[str, str | None], start: Mapping[str, float], tips: Sequence[str]
) -> np.ndarray:
    """Age at which the lineages of two living tips split, in a budding morphospecies tree.

    Each morphospecies is a lineage from its start age onwards; a descendant buds off its ancestor at the
    descendant's own start age, and the ancestor lives on. Tracing tip ``a`` back in time, its lineage is ``a``
    itself until ``start[a]``, then ``ancestor[a]`` until ``start[ancestor[a]]``, and so on. Two tips share
    their lineage while both sit in the same morphospecies ``M``: the first ``M`` on both chains, left towards
    ``a`` at ``exit_a`` (the start of ``a``'s child of ``M``, or 0 if ``M`` is ``a``) and towards ``b`` at
    ``exit_b``; they split at ``max(exit_a, exit_b)``.

    Args:
        ancestor: morphospecies -> its ancestor (None or "" at the root).
        start: morphospecies -> start age (time before present, e.g. Ma).
        tips: ``T`` living morphospecies.

    Returns:
        ``[T, T]`` float64 split ages, symmetric, 0 on the diagonal.

    Raises:
        ValueError: an ancestor chain loops or two tips share no ancestor.
    """
    exits = []
    for tip in tips:
        chain: dict[str, float] = {}
        taxon, leave = tip, 0.0
        while taxon:
            if taxon in chain:
                raise ValueError(f"the ancestor chain of {tip} loops at {taxon}")
            chain[taxon] = leave
            taxon, leave = ancestor.get(taxon) or "", float(start[taxon])
        exits.append(chain)
    ages = np.zeros((len(tips), len(tips)))
    for i, j in combinations(range(len(tips)), 2):
        # Dicts keep insertion order: the first shared taxon on tip i's chain is the most recent one.
        shared = next((m for m in exits[i] if m in exits[j]), None)
        if shared is None:
            raise ValueError(f"{tips[i]} and {tips[j]} share no ancestor")
        ages[i, j] = ages[j, i] = max(exits[i][shared], exits[j][shared])
    return ages


def covariance_from_split_ages(ages: np.ndarray) -> np.ndarray:
    """Shared-path covariance of an ultrametric time tree given its pairwise split ages, with unit tip depth.

    The root is the oldest split; two tips share the path from the root down to their split, of length
    ``root - age``, and each tip lies ``root`` below it. (The patristic distance is ``2 * age``.)

    Args:
        ages: ``[N, N]`` split ages, 0 on the diagonal.

    Returns:
        ``[N, N]`` float64 ``1 - ages / ages.max()``: ones on the diagonal, 0 for the pairs split at the root.
    """
    return 1.0 - np.asarray(ages, dtype=float) / float(np.max(ages))


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
