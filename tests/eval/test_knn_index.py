"""The FAISS index choice of ``knn_search`` against brute-force numpy KNN on seeded data.

Flat must equal brute force exactly; the approximate indexes must reach a stated recall@5 and return true
distances for the neighbours they find; adding the gallery in batches must equal adding it at once.
"""

from __future__ import annotations

import logging

import faiss
import numpy as np
import pytest

from visgen.eval.knn import knn_search
from visgen.eval.knn_index import auto_nlist, build_index
from visgen.eval.knn_settings import IndexSettings

APPROXIMATE = ("ivf_flat", "ivf_pq", "hnsw")
#: recall@5 floors on the clustered data below (measured 0.99-1.0 on 2026-12-03; the floors leave room for
#: FAISS versions and BLAS builds to order near-ties differently).
RECALL_FLOOR = {"ivf_flat": 0.95, "ivf_pq": 0.9, "hnsw": 0.95}
SETTINGS = IndexSettings(pq_m=8)  # 32-d vectors: 8 sub-vectors of 4


def clustered(n: int, m: int, d: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gallery [n, d] and queries [m, d] around 40 shared centres, like class-structured embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, d)) * 3
    g = centres[rng.integers(0, 40, n)] + 2 * rng.normal(size=(n, d))
    q = centres[rng.integers(0, 40, m)] + 2 * rng.normal(size=(m, d))
    return g.astype(np.float32), q.astype(np.float32)


def brute_force(g: np.ndarray, q: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """float64 true distances [M, N] and the k nearest ids [M, k] (ties by gallery index)."""
    g64, q64 = g.astype(np.float64), q.astype(np.float64)
    if metric == "cosine":
        g64 = g64 / np.linalg.norm(g64, axis=1, keepdims=True)
        q64 = q64 / np.linalg.norm(q64, axis=1, keepdims=True)
        d = 1.0 - q64 @ g64.T
    else:
        d = np.sqrt(((q64[:, None, :] - g64[None, :, :]) ** 2).sum(-1))
    ids = np.stack([np.lexsort((np.arange(len(g)), row))[:k] for row in d])
    return d, ids


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(found, truth, strict=True)]))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_flat_equals_brute_force_and_batching_changes_no_bit(metric: str) -> None:
    g, q = clustered(1500, 200)
    _, truth = brute_force(g, q, 5, metric)
    dist, idx = knn_search(g, q, 5, metric, "flat")  # type: ignore[arg-type]
    np.testing.assert_array_equal(idx, truth)
    batched = knn_search(g, q, 5, metric, "flat", IndexSettings(add_batch=97))  # type: ignore[arg-type]
    np.testing.assert_array_equal(batched[0], dist)
    np.testing.assert_array_equal(batched[1], idx)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("kind", APPROXIMATE)
def test_approximate_recall_and_true_distances(kind: str, metric: str) -> None:
    g, q = clustered(4000, 300)
    d, truth = brute_force(g, q, 5, metric)
    dist, idx = knn_search(g, q, 5, metric, kind, SETTINGS)  # type: ignore[arg-type]
    assert recall(idx, truth) >= RECALL_FLOOR[kind]
    # Whatever neighbours came back, their distances are the true ones, ascending.
    np.testing.assert_allclose(dist, np.take_along_axis(d, idx, axis=1), rtol=1e-5, atol=1e-5)
    assert (np.diff(dist, axis=1) >= 0).all() and dist.dtype == np.float32 and idx.dtype == np.int64


@pytest.mark.parametrize("kind", ["flat", "ivf_flat", "ivf_pq"])
def test_batched_add_equals_one_shot_add(kind: str) -> None:
    g, q = clustered(3000, 100)
    one = knn_search(g, q, 5, "euclidean", kind, SETTINGS)  # type: ignore[arg-type]
    many = knn_search(g, q, 5, "euclidean", kind, IndexSettings(pq_m=8, add_batch=250))  # type: ignore[arg-type]
    np.testing.assert_array_equal(many[1], one[1])
    np.testing.assert_array_equal(many[0], one[0])


def test_hnsw_batched_add_keeps_recall() -> None:
    # HNSW's graph depends on insertion order, so batching may change it: the guarantee is the recall.
    g, q = clustered(3000, 200)
    _, truth = brute_force(g, q, 5, "euclidean")
    _, idx = knn_search(g, q, 5, "euclidean", "hnsw", IndexSettings(add_batch=250))
    assert recall(idx, truth) >= RECALL_FLOOR["hnsw"]


def test_ivf_scanning_every_cell_is_exact_and_one_cell_is_not() -> None:
    # Unclustered 32-d data: the hard case, where one cell of 50 misses true neighbours.
    rng = np.random.default_rng(3)
    g, q = rng.normal(size=(5000, 32)).astype(np.float32), rng.normal(size=(200, 32)).astype(np.float32)
    _, truth = brute_force(g, q, 5, "euclidean")
    _, every = knn_search(g, q, 5, "euclidean", "ivf_flat", IndexSettings(nlist=50, nprobe=50))
    np.testing.assert_array_equal(every, truth)
    _, one = knn_search(g, q, 5, "euclidean", "ivf_flat", IndexSettings(nlist=50, nprobe=1))
    assert recall(one, truth) < 0.9


def test_training_sample_is_seeded() -> None:
    g, q = clustered(3000, 100)
    small = IndexSettings(pq_m=8, train_size=1000, seed=4)
    a = knn_search(g, q, 5, "euclidean", "ivf_pq", small)
    b = knn_search(g, q, 5, "euclidean", "ivf_pq", small)
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize(
    ("kind", "settings", "reason"),
    [
        ("ivf_flat", IndexSettings(nlist=100), "needs at least nlist=100 training vectors, got 80"),
        (
            "ivf_flat",
            IndexSettings(nlist=10, train_size=9),
            "needs at least nlist=10 training vectors, got 9",
        ),
        ("ivf_pq", IndexSettings(pq_m=7), "does not divide"),
        ("ivf_pq", IndexSettings(pq_m=8, nlist=4), "needs >= 256 training vectors"),
    ],
)
def test_gallery_too_small_for_the_index_falls_back_to_flat(
    kind: str, settings: IndexSettings, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    g, q = clustered(80, 30)
    with caplog.at_level(logging.WARNING, logger="visgen.eval.knn_index"):
        got = knn_search(g, q, 5, "euclidean", kind, settings)  # type: ignore[arg-type]
    assert reason in caplog.text and "flat (exact)" in caplog.text
    exact = knn_search(g, q, 5, "euclidean", "flat")
    np.testing.assert_array_equal(got[1], exact[1])
    np.testing.assert_array_equal(got[0], exact[0])


def test_queries_whose_cells_hold_fewer_than_k_are_searched_exactly(caplog: pytest.LogCaptureFixture) -> None:
    # 100 cells for 300 vectors, one probed: many queries see < 5 candidates; FAISS pads with -1.
    g, q = clustered(300, 80, seed=5)
    _, truth = brute_force(g, q, 5, "euclidean")
    with caplog.at_level(logging.INFO, logger="visgen.eval.knn_index"):
        _, idx = knn_search(g, q, 5, "euclidean", "ivf_flat", IndexSettings(nlist=100, nprobe=1))
    assert "searched exactly" in caplog.text
    assert (idx >= 0).all()
    assert len({tuple(row) for row in idx}) > 1 and all(len(set(row)) == 5 for row in idx)
    assert recall(idx, truth) > 0.5


def test_auto_nlist_keeps_39_training_points_per_cell() -> None:
    assert [auto_nlist(n, n) for n in (10, 1000, 10_000, 1_000_000)] == [1, 25, 256, 4000]
    assert auto_nlist(1_000_000, 65536) == 65536 // 39  # the training sample, not the gallery, bounds it


def test_auto_nlist_follows_the_training_sample_into_the_built_index() -> None:
    g, _ = clustered(4000, 1)
    index, _ = build_index(g, "euclidean", "ivf_flat", IndexSettings(train_size=780))
    assert faiss.extract_index_ivf(index).nlist == 20


@pytest.mark.skipif(
    not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0, reason="FAISS without a GPU"
)
@pytest.mark.parametrize("kind", ["flat", "ivf_flat"])
def test_gpu_index_matches_cpu_neighbours(kind: str) -> None:
    g, q = clustered(4000, 300)
    cpu = knn_search(g, q, 5, "euclidean", kind)  # type: ignore[arg-type]
    gpu = knn_search(g, q, 5, "euclidean", kind, IndexSettings(gpu=True))  # type: ignore[arg-type]
    index, _ = build_index(g, "euclidean", kind, IndexSettings(gpu=True))  # type: ignore[arg-type]
    assert "Gpu" in type(index).__name__
    assert recall(gpu[1], cpu[1]) >= 0.99
