"""patristic_from_covariance against 3-taxon trees worked out by hand."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import cophenet, linkage
from scipy.spatial.distance import squareform

from visgen.genetics.trees import patristic_from_covariance, tree_covariance


def test_ultrametric_three_taxon_tree() -> None:
    # ((A:0.4, B:0.4):0.6, C:1.0): A-B = 0.4 + 0.4, A-C = B-C = 1 + 1 (they meet at the root).
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(patristic_from_covariance(cov), [[0, 0.8, 2], [0.8, 0, 2], [2, 2, 0]])


def test_tips_of_unequal_depth() -> None:
    # ((A:0.3, B:0.5):0.2, C:0.9): tip depths 0.5, 0.7, 0.9; A and B share 0.2.
    cov = np.array([[0.5, 0.2, 0.0], [0.2, 0.7, 0.0], [0.0, 0.0, 0.9]])
    np.testing.assert_allclose(patristic_from_covariance(cov), [[0, 0.8, 1.4], [0.8, 0, 1.6], [1.4, 1.6, 0]])


def test_round_trip_through_the_upgma_covariance() -> None:
    # An ultrametric input: the UPGMA tree's patristic distances are its cophenetic distances, rescaled by
    # tree_covariance to unit tip depth (height 1, so the deepest split is 2 apart).
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(6, 3))
    dist = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    coph = squareform(cophenet(linkage(squareform(dist, checks=False), method="average")))
    got = patristic_from_covariance(tree_covariance(dist))
    np.testing.assert_allclose(got, coph / (coph.max() / 2.0), atol=1e-12)
