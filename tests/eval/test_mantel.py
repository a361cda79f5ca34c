"""The Mantel test against scipy's Pearson r, an exact enumeration of permutations, and known cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import pearsonr

from visgen.eval.mantel import mantel


def _random_distances(n: int, seed: int) -> np.ndarray:
    return squareform(pdist(np.random.default_rng(seed).normal(size=(n, 3))))


def test_statistic_is_pearson_r_of_the_upper_triangles() -> None:
    a, b = _random_distances(9, 0), _random_distances(9, 1)
    iu = np.triu_indices(9, 1)
    r, _ = mantel(a, b, permutations=10)
    assert r == pytest.approx(pearsonr(a[iu], b[iu]).statistic, abs=1e-12)


def test_known_small_case() -> None:
    # Three objects: upper triangles (1, 2, 3) and (2, 6, 4) have Pearson r = 0.5 by hand:
    # deviations (-1, 0, 1) and (-2, 2, 0): cov = 2, norms sqrt(2) and sqrt(8) -> 2 / 4.
    d1 = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], dtype=float)
    d2 = np.array([[0, 2, 6], [2, 0, 4], [6, 4, 0]], dtype=float)
    r, p = mantel(d1, d2, permutations=0)
    assert r == pytest.approx(0.5)
    assert p == 1.0


def test_p_value_matches_exact_enumeration() -> None:
    n = 5
    a, b = _random_distances(n, 2), _random_distances(n, 3)
    iu = np.triu_indices(n, 1)
    r_obs = pearsonr(a[iu], b[iu]).statistic
    # Brute force over all 120 relabellings: the exact permutation p-value.
    exact = np.mean(
        [
            pearsonr(a[np.ix_(perm, perm)][iu], b[iu]).statistic >= r_obs - 1e-12
            for perm in itertools.permutations(range(n))
        ]
    )
    _, p = mantel(a, b, permutations=20000, seed=4)
    assert p == pytest.approx(exact, abs=0.01)


def test_identical_matrices_are_significant_and_unrelated_are_not() -> None:
    a = _random_distances(12, 5)
    r, p = mantel(a, a, permutations=499)
    assert r == pytest.approx(1.0)
    assert p == pytest.approx(1 / 500)  # only the identity relabelling reaches r = 1
    ps = [
        mantel(_random_distances(12, s), _random_distances(12, 100 + s), permutations=199)[1]
        for s in range(20)
    ]
    assert sum(p < 0.05 for p in ps) <= 4  # ~1 expected under the null


def test_deterministic_given_seed() -> None:
    a, b = _random_distances(8, 6), _random_distances(8, 7)
    assert mantel(a, b, seed=3) == mantel(a, b, seed=3)


@pytest.mark.parametrize(
    ("d1", "d2", "match"),
    [
        (np.zeros((3, 4)), np.zeros((3, 4)), "square"),
        (np.array([[0, 1, 2], [3, 0, 1], [2, 1, 0]]), np.eye(3), "symmetric"),
        (np.zeros((2, 2)), np.zeros((2, 2)), "at least 3"),
        (_random_distances(4, 0), _random_distances(5, 0), "same shape"),
        (np.ones((4, 4)) - np.eye(4), _random_distances(4, 0), "constant"),
    ],
)
def test_rejects_bad_matrices(d1: np.ndarray, d2: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mantel(d1, d2)


def test_tree_signal_is_high_for_anchors_shaped_like_the_tree_and_low_when_their_rows_are_swapped() -> None:
    from visgen.eval.mantel import tree_signal
    from visgen.genetics.trees import patristic_from_covariance

    # The 4-tip tree ((a,b),(c,d)) with unit depth: patristic 0.8 within (a,b), 1.6 within (c,d), 2 across.
    cov = np.array([[1.0, 0.6, 0, 0], [0.6, 1.0, 0, 0], [0, 0, 1.0, 0.2], [0, 0, 0.2, 1.0]])
    tree = patristic_from_covariance(cov)
    points = np.array([[0.0, 0.0], [0.8, 0.0], [10.0, 0.0], [10.0, 1.6]])  # the same pairs, far apart
    r, _ = tree_signal(points, tree, permutations=99)
    assert r > 0.8  # 0.88: the cross-clade distances vary a little (9.2-10.1) where the tree has one value
    swapped, _ = tree_signal(points[[0, 2, 1, 3]], tree, permutations=99)  # each pair split across the clades
    assert swapped < 0
    r_const, p_const = tree_signal(np.ones((4, 3)), tree)
    assert np.isnan(r_const) and np.isnan(p_const)
