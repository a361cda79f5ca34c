"""The long-tail definitions: class counts, shot buckets and the rare-class set — defined ONCE here.

Every other part (metrics, report, samplers, data modules) calls these functions; nowhere else may
hard-code the 20/100 thresholds. The buckets follow the long-tail literature the paper builds on
(many > 100, medium 20–100, few < 20 *training* images per class).

Counts are judged at FULL scale: a scaled-down ForamSim dataset (``scale`` < 1, from its
``dataset.json``) keeps the real species' buckets, so ``Globigerinoides_ruber`` is "many" at every
profile and ``Tenuitella_iota`` is "few". Real images have ``scale = 1.0``. The scale may be given
per class: ForamSim floors every species at a few images, so at scale 0.1 a species with 8 real
images still gets 5 — its own scale is 5/8, not 0.1, and dividing by 0.1 would call it "medium"
(see :func:`visgen.genetics.species.species_scales`).

Pure numpy, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: (few/medium boundary, medium/many boundary): few < 20 <= medium <= 100 < many.
SHOT_THRESHOLDS: tuple[int, int] = (20, 100)

#: Bucket names in display order.
BUCKETS: tuple[str, str, str] = ("many", "medium", "few")


def class_counts(labels: Sequence[int] | np.ndarray, num_classes: int) -> np.ndarray:
    """Count the images per class.

    Args:
        labels: class index per image, shape [N], values in ``[0, num_classes)``.
        num_classes: number of classes C (classes without images get a 0).

    Returns:
        int64 array [C].

    Raises:
        ValueError: a label is outside ``[0, num_classes)``.
    """
    arr = np.asarray(labels, dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got range [{arr.min()}, {arr.max()}]")
    return np.bincount(arr, minlength=num_classes).astype(np.int64)


def full_scale_counts(
    train_counts: Sequence[float] | np.ndarray, scale: float | Sequence[float] | np.ndarray = 1.0
) -> np.ndarray:
    """Normalise training counts of a scaled dataset to full scale (``count / scale``).

    Args:
        train_counts: training images per class, shape [C].
        scale: the dataset scale, a scalar or one per class [C] (ForamSim: generated / real images
            of the species; 1.0 for real images).

    Returns:
        float64 array [C].

    Raises:
        ValueError: ``scale`` is not positive.
    """
    scales = np.asarray(scale, dtype=np.float64)
    if not (scales > 0).all():
        raise ValueError(f"scale must be > 0, got {scale}")
    return np.asarray(train_counts, dtype=np.float64).reshape(-1) / scales


def shot_bucket(n_train_full_scale: float) -> str:
    """Return the shot bucket of one class.

    Args:
        n_train_full_scale: training images of the class at full scale.

    Returns:
        ``"many"`` (> 100), ``"medium"`` (20–100 inclusive) or ``"few"`` (< 20).
    """
    few_below, many_above = SHOT_THRESHOLDS
    # A ForamSim count divided by its scale is a float; round first so that 19.999... (a floating
    # error of an exact 20) does not fall into the wrong bucket.
    n = round(float(n_train_full_scale), 6)
    if n > many_above:
        return "many"
    if n >= few_below:
        return "medium"
    return "few"


def shot_buckets(
    train_counts: Sequence[float] | np.ndarray, scale: float | Sequence[float] | np.ndarray = 1.0
) -> list[str]:
    """Shot bucket per class.

    Args:
        train_counts: training images per class as present in the dataset, shape [C].
        scale: dataset scale, scalar or per class [C]; counts are divided by it before bucketing.

    Returns:
        list of C bucket names.
    """
    return [shot_bucket(n) for n in full_scale_counts(train_counts, scale)]


def rare_classes(
    train_counts_full_scale: Sequence[float] | np.ndarray, scale: float | Sequence[float] | np.ndarray = 1.0
) -> set[int]:
    """The rare-class set: medium ∪ few, i.e. classes with ≤ 100 training images at full scale.

    Args:
        train_counts_full_scale: training images per class, shape [C]; already at full scale
            unless ``scale`` is given.
        scale: optional dataset scale (scalar or per class) to normalise by (default 1.0 = counts
            are full scale).

    Returns:
        set of class indices.
    """
    buckets = shot_buckets(train_counts_full_scale, scale)
    return {i for i, b in enumerate(buckets) if b != "many"}


def bucket_members(buckets: Sequence[str]) -> dict[str, list[int]]:
    """Group class indices by bucket.

    Args:
        buckets: bucket name per class, length C (from :func:`shot_buckets`).

    Returns:
        ``{"many": [...], "medium": [...], "few": [...]}`` (every key present, lists may be empty).
    """
    out: dict[str, list[int]] = {b: [] for b in BUCKETS}
    for i, b in enumerate(buckets):
        if b not in out:
            raise ValueError(f"unknown shot bucket {b!r}; expected one of {BUCKETS}")
        out[b].append(i)
    return out
