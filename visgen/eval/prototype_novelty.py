"""How unlike every seen species an embedding is: distance to the nearest class prototype over that class's spread.

Pure numpy. A query that lies as far from its nearest prototype as the class's own images do scores about 1;
one far outside every class scores much more, a hint that it may be a species the gallery does not hold.
Used by ``visgen predict``. The GZSL stage scores novelty with its own prototypes (``visgen.eval.zeroshot``);
this is the small, self-contained score ``predict`` needs.
"""

from __future__ import annotations

import numpy as np

from visgen.eval.knn import Metric


def _prepare(x: np.ndarray, metric: Metric) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def _distances(a: np.ndarray, b: np.ndarray, metric: Metric) -> np.ndarray:
    """[len(a), len(b)] Euclidean distances, or cosine distances 1 - cos for unit rows."""
    if metric == "cosine":
        return 1.0 - a @ b.T
    sq = (a**2).sum(1)[:, None] - 2.0 * a @ b.T + (b**2).sum(1)[None, :]
    return np.sqrt(np.maximum(sq, 0.0))


def class_prototypes(
    gallery: np.ndarray, labels: np.ndarray, num_classes: int, metric: Metric = "euclidean"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class prototype (mean embedding) and spread (mean member distance to it).

    A class with one gallery image has no spread of its own; it takes the median spread of the classes that
    have one (1.0 if none has), so its novelty is measured on the typical scale instead of dividing by 0.

    Args:
        gallery: [N, E] embeddings; labels: int [N] in [0, num_classes).
        num_classes: C.
        metric: ``"euclidean"`` or ``"cosine"`` (prototypes of unit vectors, renormalised).

    Returns:
        ``prototypes`` float64 [C, E] (NaN rows for classes without gallery images) and ``spreads`` float64 [C]
        (NaN for those classes).
    """
    g = _prepare(gallery, metric)
    labels = np.asarray(labels, dtype=np.int64)
    protos = np.full((num_classes, g.shape[1]), np.nan)
    spreads = np.full(num_classes, np.nan)
    for c in range(num_classes):
        members = g[labels == c]
        if len(members) == 0:
            continue
        mean = members.mean(axis=0)
        if metric == "cosine":
            mean = mean / max(np.linalg.norm(mean), 1e-12)
        protos[c] = mean
        if len(members) > 1:
            spreads[c] = float(_distances(members, mean[None, :], metric).mean())
    single = np.flatnonzero(~np.isnan(protos[:, 0]) & np.isnan(spreads))
    measured = spreads[~np.isnan(spreads)]
    spreads[single] = float(np.median(measured)) if len(measured) else 1.0
    return protos, np.where(np.isnan(spreads), np.nan, np.maximum(spreads, 1e-12))


def novelty_scores(
    queries: np.ndarray, prototypes: np.ndarray, spreads: np.ndarray, metric: Metric = "euclidean"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Novelty of each query: d(q, nearest prototype) / spread of that prototype's class.

    Args:
        queries: [M, E] embeddings.
        prototypes: [C, E] from ``class_prototypes`` (NaN rows are ignored).
        spreads: [C] from ``class_prototypes``.
        metric: as used for the prototypes.

    Returns:
        ``novelty`` float64 [M], ``nearest`` int64 [M] (class of the nearest prototype) and ``distances``
        float64 [M, C] to every prototype (inf for classes without one).
    """
    q = _prepare(queries, metric)
    seen = ~np.isnan(prototypes).any(axis=1)
    dist = np.full((len(q), len(prototypes)), np.inf)
    dist[:, seen] = _distances(q, prototypes[seen], metric)
    nearest = dist.argmin(axis=1)
    novelty = dist[np.arange(len(q)), nearest] / spreads[nearest]
    return novelty, nearest.astype(np.int64), dist
