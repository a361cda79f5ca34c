"""KNN classification metrics: overall, per-class, rare, many/medium/few, top-k; a per-species table.

Pure numpy. Class groupings (rare classes, shot buckets) come in as arguments — they are defined once
in ``visgen.eval.longtail`` and never re-derived here.

Conventions:
- ``per_class_acc`` and the group accuracies (``rare_acc``, ``many_acc``, ...) are means of per-class
  accuracies over the classes PRESENT among the queries (a class with no query has no accuracy);
  a group with no present class is NaN.
- ``top{k}_acc``: the true label is among the labels of the k nearest neighbours (k = the number of
  columns of ``neighbour_labels``), independent of the vote.
- ``acc`` and ``top{k}_acc`` count the queries in ``overall_mask`` (default: all). ForamSim's test
  floor adds test images to rare species so their accuracies are measured precisely; those images
  must not re-weight overall accuracy towards the tail, so the callback leaves them out of the mask.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np

BUCKETS = ("many", "medium", "few")


def per_class_accuracy(
    pred: np.ndarray, labels: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy of each class over its queries.

    Args:
        pred: int [M] predictions.
        labels: int [M] true labels in [0, num_classes).
        num_classes: C.

    Returns:
        ``acc`` float64 [C] (NaN where a class has no query) and ``n`` int64 [C] query counts.
    """
    labels = np.asarray(labels, dtype=np.int64)
    correct = np.asarray(pred, dtype=np.int64) == labels
    n = np.bincount(labels, minlength=num_classes)
    hits = np.bincount(labels, weights=correct.astype(np.float64), minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, hits / np.maximum(n, 1), np.nan)
    return acc, n


def _mean_over(acc: np.ndarray, classes: Collection[int]) -> float:
    """Mean of ``acc`` over the given classes that have a (non-NaN) accuracy; NaN if none."""
    vals = [acc[c] for c in classes if not math.isnan(acc[c])]
    return float(np.mean(vals)) if vals else math.nan


def knn_metrics(
    pred: np.ndarray,
    labels: np.ndarray,
    neighbour_labels: np.ndarray,
    *,
    num_classes: int,
    rare_classes: Collection[int] | None = None,
    buckets: Sequence[str] | None = None,
    overall_mask: np.ndarray | None = None,
) -> dict[str, float]:
    """All KNN metrics as fractions in [0, 1] (NaN where undefined).

    Args:
        pred: int [M] KNN predictions.
        labels: int [M] true labels.
        neighbour_labels: int [M, k] labels of the k nearest gallery samples.
        num_classes: C.
        rare_classes: class indices counted as rare (``longtail.rare_classes``); None → ``rare_acc`` NaN.
        buckets: per-class ``"many"|"medium"|"few"`` [C]; None → bucket accuracies NaN.
        overall_mask: bool [M], the queries that ``acc`` and ``top{k}_acc`` count; None → all.

    Returns:
        ``acc, per_class_acc, rare_acc, many_acc, medium_acc, few_acc, top{k}_acc``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    nl = np.asarray(neighbour_labels, dtype=np.int64)
    if labels.size == 0:
        raise ValueError("knn_metrics: no queries")
    overall = np.ones(len(labels), dtype=bool) if overall_mask is None else np.asarray(overall_mask, bool)
    if overall.shape != labels.shape or not overall.any():
        raise ValueError(f"knn_metrics: overall_mask must be bool [{len(labels)}] with a True entry")
    acc_c, _ = per_class_accuracy(pred, labels, num_classes)
    out = {
        "acc": float(np.mean((np.asarray(pred) == labels)[overall])),
        "per_class_acc": float(np.nanmean(acc_c)),
        "rare_acc": _mean_over(acc_c, rare_classes) if rare_classes is not None else math.nan,
    }
    if buckets is not None and len(buckets) != num_classes:
        raise ValueError(f"knn_metrics: {len(buckets)} buckets for {num_classes} classes")
    for bucket in BUCKETS:
        if buckets is None:
            out[f"{bucket}_acc"] = math.nan
        else:
            out[f"{bucket}_acc"] = _mean_over(acc_c, [c for c, b in enumerate(buckets) if b == bucket])
    out[f"top{nl.shape[1]}_acc"] = float(np.mean((nl == labels[:, None]).any(axis=1)[overall]))
    return out


def per_species_table(
    pred: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: Sequence[str],
    n_train: Sequence[int] | np.ndarray,
    rare_classes: Collection[int] | None = None,
    buckets: Sequence[str] | None = None,
) -> list[dict[str, object]]:
    """One row per class: ``species, n_train, bucket, rare, n_test, acc``.

    Args:
        pred: int [M] predictions.
        labels: int [M] true labels.
        class_names: [C] species names (``Genus_species``).
        n_train: [C] training (gallery) images per class.
        rare_classes: rare class indices, or None (``rare`` then None).
        buckets: [C] shot buckets, or None (``bucket`` then None).

    Returns:
        C dicts in class order; ``acc`` is None for a class without test queries.
    """
    num_classes = len(class_names)
    acc_c, n_c = per_class_accuracy(pred, labels, num_classes)
    rare = set(rare_classes) if rare_classes is not None else None
    return [
        {
            "species": class_names[c],
            "n_train": int(n_train[c]),
            "bucket": buckets[c] if buckets is not None else None,
            "rare": (c in rare) if rare is not None else None,
            "n_test": int(n_c[c]),
            "acc": None if math.isnan(acc_c[c]) else float(acc_c[c]),
        }
        for c in range(num_classes)
    ]


def group_accuracy(pred: np.ndarray, labels: np.ndarray, num_classes: int, classes: Collection[int]) -> float:
    """Mean per-class accuracy over a group of classes (e.g. the species without DNA), NaN if none is present.

    Args:
        pred: int [M] predictions; labels: int [M] true labels.
        num_classes: C.
        classes: the class indices of the group.
    """
    acc, _ = per_class_accuracy(pred, labels, num_classes)
    return _mean_over(acc, classes)
