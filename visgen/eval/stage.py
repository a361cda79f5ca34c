"""One stage's evaluation over its embeddings: the paper's k-NN vote and the nearest-class-mean diagnostic.

Pure function on numpy arrays, shared by the KNN callback (live embeddings) and by the refresh of a cached
pretraining's ``metrics.json`` from its ``embeddings.npz`` (``visgen.run.refresh``), so both compute the
same numbers by construction.

``METRICS_VERSION`` names what a ``metrics.json`` holds; bump it whenever this function gains a metric, so
cached pretrainings written before are re-evaluated instead of reported with a blank column:
1 = ``knn/*`` only; 2 = ``knn/*`` + ``ncm/*``; 3 = + where the KNN's errors land (``knn/genus_acc``,
``knn/error_tree_dist`` ..., ``visgen.eval.mistakes``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from visgen.eval.knn import Metric, knn_predict, nearest_mean_predict
from visgen.eval.knn_settings import IndexKind, IndexSettings
from visgen.eval.metrics import knn_metrics
from visgen.eval.mistakes import SpeciesDistances, mistake_metrics

METRICS_VERSION = 3


def evaluate_embeddings(
    gallery: np.ndarray,
    gallery_labels: np.ndarray,
    queries: np.ndarray,
    query_labels: np.ndarray,
    *,
    num_classes: int,
    k: int = 5,
    metric: Metric = "euclidean",
    rare_classes: Collection[int] | None = None,
    buckets: Sequence[str] | None = None,
    overall_mask: np.ndarray | None = None,
    distances: SpeciesDistances | None = None,
    index: IndexKind = "flat",
    index_settings: IndexSettings | None = None,
) -> tuple[dict[str, float], np.ndarray]:
    """k-NN metrics (``knn/<name>``) and nearest-class-mean metrics (``ncm/<name>``, no top-k).

    Args:
        gallery: float [N, E] gallery (training) embeddings; gallery_labels: int [N].
        queries: float [M, E] query embeddings; query_labels: int [M].
        num_classes: C.
        k, metric: the KNN's neighbours and distance (5, Euclidean in the paper).
        rare_classes, buckets, overall_mask: as ``visgen.eval.metrics.knn_metrics``.
        distances: the classes' genera and distances; given, the KNN's predictions also get
            ``knn/genus_acc``, ``knn/error_tree_dist`` ... (``visgen.eval.mistakes.MISTAKE_KEYS``).
        index, index_settings: the KNN's FAISS index (``"flat"``, exact, in the paper) and its settings.

    Returns:
        ``({"knn/acc": ..., "ncm/rare_acc": ..., ...}, knn predictions int [M])``; values are fractions,
        NaN where undefined.
    """
    groups = {"num_classes": num_classes, "rare_classes": rare_classes, "buckets": buckets}
    pred, neighbour_labels = knn_predict(
        gallery, gallery_labels, queries, k=k, metric=metric, index=index, settings=index_settings
    )
    knn = knn_metrics(pred, query_labels, neighbour_labels, overall_mask=overall_mask, **groups)
    # Nearest class mean: a class with 3 gallery images is one prototype like any other instead of 3 votes
    # among hundreds of a common neighbour's. Its "neighbour" is the predicted class, so top-k says nothing.
    ncm_pred = nearest_mean_predict(gallery, gallery_labels, queries, metric=metric)
    ncm = knn_metrics(ncm_pred, query_labels, ncm_pred[:, None], overall_mask=overall_mask, **groups)
    scores = {f"knn/{name}": value for name, value in knn.items()}
    scores.update({f"ncm/{name}": value for name, value in ncm.items() if not name.startswith("top")})
    if distances is not None:
        if len(distances.class_names) != num_classes:
            raise ValueError(
                f"evaluate_embeddings: {len(distances.class_names)} class names for {num_classes} classes"
            )
        mistakes = mistake_metrics(pred, query_labels, distances, overall_mask=overall_mask)
        scores.update({f"knn/{name}": value for name, value in mistakes.items()})
    return scores, pred
