"""k-nearest-neighbour search and majority-vote prediction — the project's only door into FAISS, with
``visgen.eval.knn_index`` building the indexes — and its class-balanced diagnostic, nearest-class-mean
prediction.

Pure functions on numpy arrays. The default ``index="flat"`` is exact: Euclidean search uses
``IndexFlatL2``; cosine search uses ``IndexFlatIP`` on L2-normalised vectors. ``ivf_flat``, ``ivf_pq`` and
``hnsw`` are approximate (see ``visgen.eval.knn_settings``). Returned distances are true distances
(Euclidean, not squared; cosine distance 1 − cos) so "smaller is nearer" holds for both metrics.
"""

from __future__ import annotations

from typing import Literal

import faiss
import numpy as np

from visgen.errors import UserInputError
from visgen.eval.knn_index import build_index, l2_normalise, search_index
from visgen.eval.knn_settings import INDEX_KINDS, IndexKind, IndexSettings

Metric = Literal["euclidean", "cosine"]


def _as_faiss(x: np.ndarray, name: str) -> np.ndarray:
    """C-contiguous float32 [N, D] copy/view, which is what FAISS requires."""
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim != 2:
        raise UserInputError(
            f"knn_search: {name} must be 2-D [N, D], got shape {arr.shape}; reshape the embeddings"
        )
    return arr


def knn_search(
    gallery: np.ndarray,
    queries: np.ndarray,
    k: int = 5,
    metric: Metric = "euclidean",
    index: IndexKind = "flat",
    settings: IndexSettings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest gallery vectors of each query: exact with ``index="flat"``, approximate otherwise.

    Args:
        gallery: [N, D] reference embeddings.
        queries: [M, D] query embeddings.
        k: neighbours per query; must satisfy 1 <= k <= N.
        metric: ``"euclidean"`` or ``"cosine"``.
        index: ``"flat"``, ``"ivf_flat"``, ``"ivf_pq"`` or ``"hnsw"``.
        settings: the index's settings (``IndexSettings()`` when None).

    Returns:
        ``dist`` float32 [M, k] ascending, and ``idx`` int64 [M, k] gallery row indices. Equal distances
        are ordered by gallery index so the result does not depend on FAISS's internal order.
    """
    if metric not in ("euclidean", "cosine"):
        raise UserInputError(f"knn metric={metric!r}: unknown; use 'euclidean' or 'cosine'")
    g = _as_faiss(gallery, "gallery")
    q = _as_faiss(queries, "queries")
    if g.shape[1] != q.shape[1]:
        raise UserInputError(
            f"knn_search: gallery dim {g.shape[1]} != query dim {q.shape[1]}; embed both with one model"
        )
    if not 1 <= k <= g.shape[0]:
        raise UserInputError(
            f"knn_search: k={k} but the gallery has {g.shape[0]} vectors; lower k or enlarge the gallery"
        )
    if index not in INDEX_KINDS:
        raise UserInputError(f"knn index={index!r}: unknown; use one of {', '.join(INDEX_KINDS)}")
    built_index, built = build_index(g, metric, index, settings)
    dist, idx = search_index(built_index, built, g, q, k, metric, settings)
    # Approximate indexes return k' >= k re-scored candidates: sorting them all keeps the k nearest.
    order = np.lexsort((idx, dist), axis=1)[:, :k]  # primary key dist, secondary gallery index
    dist = np.take_along_axis(dist, order, axis=1).astype(np.float32)
    idx = np.take_along_axis(idx, order, axis=1).astype(np.int64)
    return dist, idx


def majority_vote(neighbour_labels: np.ndarray) -> np.ndarray:
    """Most frequent label per row; ties go to the tied label whose first neighbour is nearest.

    Args:
        neighbour_labels: int [M, k], columns ordered nearest first.

    Returns:
        int64 [M] predicted labels.
    """
    nl = np.asarray(neighbour_labels, dtype=np.int64)
    # counts[m, j] = how often neighbour j's label occurs in row m; the first column attaining the max
    # count is the nearest neighbour among the tied labels, which is exactly the tie rule.
    counts = (nl[:, :, None] == nl[:, None, :]).sum(axis=2)
    best = counts.argmax(axis=1)
    return nl[np.arange(nl.shape[0]), best]


def knn_predict(
    gallery: np.ndarray,
    gallery_labels: np.ndarray,
    queries: np.ndarray,
    k: int = 5,
    metric: Metric = "euclidean",
    index: IndexKind = "flat",
    settings: IndexSettings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """KNN classification by majority vote (ties → nearest).

    Args:
        gallery: [N, D] reference embeddings.
        gallery_labels: int [N] their labels.
        queries: [M, D] query embeddings.
        k: neighbours per query.
        metric: ``"euclidean"`` or ``"cosine"``.
        index, settings: the FAISS index and its settings, as ``knn_search``.

    Returns:
        ``pred`` int64 [M] and ``neighbour_labels`` int64 [M, k] (nearest first).
    """
    labels = np.asarray(gallery_labels, dtype=np.int64)
    if labels.shape != (np.asarray(gallery).shape[0],):
        raise UserInputError(
            f"knn_predict: {labels.shape[0]} gallery labels for {np.asarray(gallery).shape[0]} vectors; pass one label per vector"
        )
    _, idx = knn_search(gallery, queries, k=k, metric=metric, index=index, settings=settings)
    neighbour_labels = labels[idx]
    return majority_vote(neighbour_labels), neighbour_labels


def nearest_mean_predict(
    gallery: np.ndarray, gallery_labels: np.ndarray, queries: np.ndarray, metric: Metric = "euclidean"
) -> np.ndarray:
    """Nearest-class-mean classification: each query takes the label of the nearest gallery class mean.

    A class-balanced counterpart of the KNN vote: every class with at least one gallery vector is one
    prototype, however few vectors it has, so a rare class is not outvoted by a common neighbour.
    Cosine: the mean of the L2-normalised vectors, compared by cosine. Ties go to the lower label.

    Args:
        gallery: [N, D] reference embeddings.
        gallery_labels: int [N] their labels.
        queries: [M, D] query embeddings.
        metric: ``"euclidean"`` or ``"cosine"``.

    Returns:
        int64 [M] predicted labels (only labels present in the gallery).
    """
    g, q = _as_faiss(gallery, "gallery"), _as_faiss(queries, "queries")
    labels = np.asarray(gallery_labels, dtype=np.int64)
    if labels.shape != (g.shape[0],):
        raise UserInputError(
            f"nearest_mean_predict: {labels.shape[0]} gallery labels for {g.shape[0]} vectors; pass one label per vector"
        )
    if metric not in ("euclidean", "cosine"):
        raise UserInputError(f"nearest_mean_predict: metric={metric!r}; use 'euclidean' or 'cosine'")
    if metric == "cosine":
        g, q = l2_normalise(g), l2_normalise(q)
    classes = np.unique(labels)
    means = np.stack([g[labels == c].astype(np.float64).mean(axis=0) for c in classes])
    q64 = q.astype(np.float64)
    if metric == "cosine":
        scores = -(q64 @ l2_normalise(means).astype(np.float64).T)
    else:
        scores = (q64**2).sum(1)[:, None] - 2.0 * q64 @ means.T + (means**2).sum(1)[None, :]
    return classes[scores.argmin(axis=1)]


def write_index(gallery: np.ndarray, path: str, metric: Metric = "euclidean") -> None:
    """Write the exact search index over ``gallery`` that ``knn_search`` builds, for other tools to query.

    Euclidean: ``IndexFlatL2`` over the vectors (it returns squared distances); cosine: ``IndexFlatIP`` over
    the L2-normalised vectors (normalise queries the same way). Read back with ``faiss.read_index(path)``.

    Args:
        gallery: [N, D] embeddings.
        path: output file.
        metric: ``"euclidean"`` or ``"cosine"``.
    """
    if metric not in ("euclidean", "cosine"):
        raise UserInputError(f"knn metric={metric!r}: unknown; use 'euclidean' or 'cosine'")
    index, _ = build_index(_as_faiss(gallery, "gallery"), metric, "flat")
    faiss.write_index(index, path)
