"""Tree arithmetic for the aligned encoder: NJ on a textbook additive tree, the sqrt(C) and MDS embeddings."""

from __future__ import annotations

import numpy as np
from skbio import TreeNode

from visgen.genetics.trees import (
    classical_mds,
    nj_tree,
    patristic_distances,
    shared_path_covariance,
    sqrt_psd,
)

TIPS = list("abcde")
# The 5-taxon neighbour-joining example (Saitou & Nei's method as taught on Wikipedia). It is additive: the tree
# a:2, b:3 on node u; u-v 3; c:4 on v; v-w 2; d:2, e:1 on w reproduces every entry.
TEXTBOOK = np.array(
    [[0, 5, 9, 9, 8], [5, 0, 10, 10, 9], [9, 10, 0, 8, 7], [9, 10, 8, 0, 3], [8, 9, 7, 3, 0]], dtype=float
)


def _splits(tree: TreeNode) -> set[frozenset[str]]:
    """Non-trivial splits of the unrooted tree, each as the side without tip ``a``."""
    out = set()
    for node in tree.non_tips():
        side = frozenset(t.name for t in node.tips())
        side = side if "a" not in side else frozenset(TIPS) - side
        if 1 < len(side) < len(TIPS) - 1:
            out.add(side)
    return out


def test_nj_recovers_the_textbook_tree() -> None:
    tree = nj_tree(TEXTBOOK, TIPS)
    assert _splits(tree) == {frozenset("cde"), frozenset("de")}
    assert {t: tree.find(t).length for t in TIPS} == {"a": 2.0, "b": 3.0, "c": 4.0, "d": 2.0, "e": 1.0}
    assert sum(n.length or 0.0 for n in tree.traverse(include_self=False)) == 17.0  # + u-v 3 + v-w 2
    np.testing.assert_allclose(patristic_distances(shared_path_covariance(tree, TIPS)), TEXTBOOK, atol=1e-12)


def test_nj_with_two_species_is_one_edge_split_at_its_midpoint() -> None:
    cov = shared_path_covariance(nj_tree(np.array([[0.0, 0.3], [0.3, 0.0]]), ["x", "y"]), ["x", "y"])
    np.testing.assert_allclose(cov, [[0.15, 0.0], [0.0, 0.15]])


ULTRAMETRIC = "((a:1,b:1):2,(c:2,(d:1,e:1):1):1);"  # every tip at depth 3


def test_shared_path_covariance_is_the_depth_of_the_mrca() -> None:
    tree = TreeNode.read([ULTRAMETRIC])
    by_hand = np.array(
        [[3, 2, 0, 0, 0], [2, 3, 0, 0, 0], [0, 0, 3, 1, 1], [0, 0, 1, 3, 2], [0, 0, 1, 2, 3]], dtype=float
    )
    np.testing.assert_array_equal(shared_path_covariance(tree, TIPS), by_hand)


def test_sqrt_cov_rows_reproduce_patristic_distances() -> None:
    tree = TreeNode.read([ULTRAMETRIC])
    cov = shared_path_covariance(tree, TIPS)
    e = sqrt_psd(cov)
    np.testing.assert_allclose(e @ e.T, cov, atol=1e-12)
    squared = ((e[:, None, :] - e[None, :, :]) ** 2).sum(axis=-1)
    skbio_patristic = tree.tip_tip_distances(TIPS).data  # scikit-bio's own path lengths as the oracle
    np.testing.assert_allclose(squared, skbio_patristic, atol=1e-12)
    np.testing.assert_allclose(np.diag(cov)[:, None] + np.diag(cov) - 2 * cov, skbio_patristic, atol=1e-12)


def test_classical_mds_is_exact_on_euclidean_distances() -> None:
    points = np.random.default_rng(3).normal(size=(7, 3))
    dist = np.sqrt(((points[:, None] - points[None]) ** 2).sum(axis=-1))
    coords = classical_mds(dist)
    assert coords.shape == (7, 3)
    np.testing.assert_allclose(np.sqrt(((coords[:, None] - coords[None]) ** 2).sum(axis=-1)), dist, atol=1e-9)
