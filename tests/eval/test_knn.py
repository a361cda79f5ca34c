"""knn_search / knn_predict / nearest_mean_predict against brute-force numpy, including exact distance and vote ties."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from visgen.errors import UserInputError
from visgen.eval.knn import knn_predict, knn_search, majority_vote, nearest_mean_predict


def brute_force(
    gallery: np.ndarray, queries: np.ndarray, k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """float64 distances, ties broken by gallery index."""
    g = gallery.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "euclidean":
        d = np.sqrt(((q[:, None, :] - g[None, :, :]) ** 2).sum(-1))
    else:
        gn = g / np.linalg.norm(g, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        d = 1 - qn @ gn.T
    idx = np.stack([np.lexsort((np.arange(len(g)), row))[:k] for row in d])
    return np.take_along_axis(d, idx, axis=1), idx


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_search_matches_brute_force(metric: str) -> None:
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(200, 16)).astype(np.float32)
    queries = rng.normal(size=(50, 16)).astype(np.float32)
    dist, idx = knn_search(gallery, queries, k=5, metric=metric)  # type: ignore[arg-type]
    ref_dist, ref_idx = brute_force(gallery, queries, 5, metric)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-4, atol=1e-4)
    assert dist.dtype == np.float32 and idx.dtype == np.int64


def test_exact_euclidean_ties_are_ordered_by_gallery_index() -> None:
    # Integer coordinates make every squared distance exact in float32, so ties are real ties.
    rng = np.random.default_rng(1)
    gallery = rng.integers(0, 3, size=(60, 4)).astype(np.float32)
    queries = rng.integers(0, 3, size=(20, 4)).astype(np.float32)
    dist, idx = knn_search(gallery, queries, k=7)
    ref_dist, ref_idx = brute_force(gallery, queries, 7, "euclidean")
    assert (np.diff(ref_dist, axis=1) == 0).any(), "the case must contain ties"
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-6)


def test_exact_cosine_ties_are_ordered_by_gallery_index() -> None:
    gallery = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [2, 0, 0], [0, 3, 0]], dtype=np.float32)
    queries = np.array([[1, 1, 0]], dtype=np.float32)
    dist, idx = knn_search(gallery, queries, k=4, metric="cosine")
    np.testing.assert_array_equal(idx, [[0, 1, 3, 4]])  # four at cos 1/sqrt(2), then the orthogonal one
    np.testing.assert_allclose(dist, [[1 - 2**-0.5] * 4], rtol=1e-6)


def test_majority_vote_ties_go_to_the_nearest() -> None:
    nl = np.array([[1, 2, 2, 1, 3], [3, 2, 2, 1, 1], [4, 5, 6, 7, 8], [9, 8, 8, 8, 9]])
    np.testing.assert_array_equal(majority_vote(nl), [1, 2, 4, 8])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_predict_matches_loop_vote(metric: str) -> None:
    rng = np.random.default_rng(2)
    gallery = rng.normal(size=(120, 8)).astype(np.float32)
    labels = rng.integers(0, 4, size=120)
    queries = rng.normal(size=(40, 8)).astype(np.float32)
    pred, nl = knn_predict(gallery, labels, queries, k=5, metric=metric)  # type: ignore[arg-type]
    _, ref_idx = brute_force(gallery, queries, 5, metric)
    for row, p, neighbours in zip(ref_idx, pred, nl, strict=True):
        votes = labels[row]
        np.testing.assert_array_equal(neighbours, votes)
        counts = Counter(votes.tolist())
        top = max(counts.values())
        assert p == next(v for v in votes if counts[v] == top)


def test_bad_inputs_are_user_errors() -> None:
    g = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(UserInputError, match="k=5"):
        knn_search(g, g, k=5)
    with pytest.raises(UserInputError, match="dim"):
        knn_search(g, np.zeros((1, 3)), k=1)
    with pytest.raises(UserInputError, match="metric"):
        knn_search(g, g, k=1, metric="manhattan")  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="labels"):
        knn_predict(g, np.zeros(2), g, k=1)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_nearest_mean_matches_a_loop_over_class_means(metric: str) -> None:
    rng = np.random.default_rng(5)
    gallery = rng.normal(size=(90, 6)).astype(np.float32)
    labels = rng.choice(
        [0, 2, 3, 7], size=90, p=[0.7, 0.2, 0.05, 0.05]
    )  # long-tailed, labels 1 and 4-6 absent
    queries = rng.normal(size=(50, 6)).astype(np.float32)
    pred = nearest_mean_predict(gallery, labels, queries, metric=metric)  # type: ignore[arg-type]
    g = gallery.astype(np.float64)
    if metric == "cosine":
        g = g / np.linalg.norm(g, axis=1, keepdims=True)
    for q, p in zip(queries.astype(np.float64), pred, strict=True):
        best, best_d = None, np.inf
        for c in sorted(set(labels.tolist())):
            m = g[labels == c].mean(axis=0)
            if metric == "cosine":
                d = 1 - (q @ m) / (np.linalg.norm(q) * np.linalg.norm(m))
            else:
                d = float(((q - m) ** 2).sum())
            if d < best_d - 1e-12:
                best, best_d = c, d
        assert p == best


def test_nearest_mean_gives_a_rare_class_its_own_prototype() -> None:
    # Three rare vectors at x = 3 beside a common class with half its 100 vectors at x = 1.5 (the rest far
    # away at x = -3): a query at x = 2.2 has 5 common nearest neighbours, but the rare class mean is nearest.
    common = np.array(
        [[1.5, y] for y in np.linspace(-0.3, 0.3, 50)] + [[-3.0, y] for y in np.linspace(-1, 1, 50)]
    )
    rare = np.array([[3.0, 0.1], [3.1, -0.1], [2.9, 0.0]])
    gallery = np.concatenate([common, rare]).astype(np.float32)
    labels = np.array([0] * 100 + [1] * 3)
    query = np.array([[2.2, 0.0]], dtype=np.float32)
    assert knn_predict(gallery, labels, query, k=5)[0][0] == 0
    assert nearest_mean_predict(gallery, labels, query)[0] == 1


def test_nearest_mean_bad_inputs_are_user_errors() -> None:
    g = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(UserInputError, match="labels"):
        nearest_mean_predict(g, np.zeros(2), g)
    with pytest.raises(UserInputError, match="metric"):
        nearest_mean_predict(g, np.zeros(3), g, metric="manhattan")  # type: ignore[arg-type]
