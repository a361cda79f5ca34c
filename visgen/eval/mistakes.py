"""Where the mistakes land: genus accuracy and the tree distance of the errors (pure numpy).

Two embeddings with the same species accuracy can err differently: one confuses a species with a congener or
a close relative, the other with anything. Genetic anchors pull relatives together, so they may change how a
model errs without changing top-1. Measured here:

- genus accuracy: the predicted species has the true species' genus. Micro: over images; macro: the mean
  over the classes present among the queries of each class's fraction (as ``per_class_acc``).
- error distance: the mean distance between predicted and true species over the ERRORS only (a correct
  prediction has distance 0 and would mix accuracy into the mean), with the number of errors; NaN when
  nothing is wrong. Two distances: a tree's (ForamSim: the generator tree's patristic distance; real images:
  the taxonomy) and the taxonomy's (0 same species, 1 same genus, 2 otherwise), which needs no tree.

A prediction may carry a weight: a GZSL score row with tied maxima counts each tied class with weight
1 / (number tied), the expectation of breaking the tie at random (``zeroshot.tied_top1``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from visgen.genetics.trees import patristic_from_covariance

#: The names ``mistake_metrics`` returns (the KNN callback logs them as ``{stage}/knn/<name>``).
MISTAKE_KEYS: tuple[str, ...] = (
    "genus_acc",
    "genus_per_class_acc",
    "error_tree_dist",
    "error_taxonomy_dist",
    "n_errors",
)


def genus_of(name: str) -> str:
    """The genus of a ``Genus_species`` class name: ``"Globigerinoides_ruber"`` -> ``"Globigerinoides"``.

    A name without ``_`` is its own genus (a class named only by genus, or a label number).
    """
    genus = str(name).split("_", 1)[0]
    if not genus:
        raise ValueError(f"genus_of: {name!r} has no genus before its first '_'")
    return genus


def genus_ids(class_names: Sequence[str]) -> np.ndarray:
    """int [C]: one id per distinct genus (first-seen order), so ``ids[a] == ids[b]`` means congeners."""
    index: dict[str, int] = {}
    return np.array([index.setdefault(genus_of(n), len(index)) for n in class_names], dtype=np.int64)


def taxonomy_distance(class_names: Sequence[str]) -> np.ndarray:
    """float [C, C]: 0 for a species with itself, 1 for two species of one genus, 2 otherwise."""
    g = genus_ids(class_names)
    dist = np.where(g[:, None] == g[None, :], 1.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    return dist


def _as_arrays(
    pred: np.ndarray, true: np.ndarray, num_classes: int, weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels as int64 [M] in [0, C) and weights as float64 [M] (ones when None); ValueError otherwise."""
    pred, true = np.asarray(pred, dtype=np.int64), np.asarray(true, dtype=np.int64)
    w = np.ones(len(true)) if weight is None else np.asarray(weight, dtype=np.float64)
    if pred.shape != true.shape or w.shape != true.shape or true.ndim != 1:
        raise ValueError(f"predictions {pred.shape}, labels {true.shape}, weights {w.shape}: need equal [M]")
    for name, lab in (("prediction", pred), ("label", true)):
        if lab.size and (lab.min() < 0 or lab.max() >= num_classes):
            raise ValueError(f"a {name} outside [0, {num_classes}): {lab.min()}..{lab.max()}")
    return pred, true, w


def genus_accuracy(
    pred_labels: np.ndarray,
    true_labels: np.ndarray,
    class_names: Sequence[str],
    *,
    weight: np.ndarray | None = None,
) -> tuple[float, float]:
    """How often the predicted species is in the true species' genus.

    Args:
        pred_labels: int [M] predicted classes.
        true_labels: int [M] true classes.
        class_names: [C] ``Genus_species`` names, index = label.
        weight: float [M] per prediction (tie shares); None = 1 each.

    Returns:
        ``(micro, macro)``: the weighted fraction of images whose prediction has the true genus, and the mean
        of that fraction over the classes present among ``true_labels``; NaN without an image.
    """
    pred, true, w = _as_arrays(pred_labels, true_labels, len(class_names), weight)
    if not len(true):
        return math.nan, math.nan
    g = genus_ids(class_names)
    hit = (g[pred] == g[true]).astype(np.float64)
    mass = np.bincount(true, weights=w, minlength=len(class_names))
    hits = np.bincount(true, weights=w * hit, minlength=len(class_names))
    present = mass > 0
    return float((w * hit).sum() / w.sum()), float(np.mean(hits[present] / mass[present]))


def error_tree_distance(
    pred: np.ndarray, true: np.ndarray, dist: np.ndarray, *, weight: np.ndarray | None = None
) -> tuple[float, float]:
    """Mean distance between predicted and true species over the errors (``pred != true``) only.

    Args:
        pred: int [M] predicted classes.
        true: int [M] true classes.
        dist: float [C, C] species distances (a tree's patristic distances, or ``taxonomy_distance``).
        weight: float [M] per prediction; None = 1 each.

    Returns:
        ``(mean distance over the errors, number of errors)``; the mean is NaN when there is no error, and
        the number is the weights' sum over the errors (an integer count without weights).
    """
    dist = np.asarray(dist, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ValueError(f"error_tree_distance: dist must be [C, C], got {dist.shape}")
    pred, true, w = _as_arrays(pred, true, dist.shape[0], weight)
    wrong = w * (pred != true)
    n = float(wrong.sum())
    if n <= 0.0:
        return math.nan, 0.0
    return float((wrong * dist[pred, true]).sum() / n), n


@dataclass(frozen=True, eq=False)
class SpeciesDistances:
    """The distances between the classes that the error metrics use, built once per run (``visgen.run``).

    Attributes:
        class_names: [C] names in label order (their genera give the taxonomy).
        tree: float [C, C] the tree distance between classes, or None (then no ``error_tree_dist``).
        source: what ``tree`` is (``"taxonomy"``, the ForamSim tree source's name), recorded in metrics.json.
        taxonomy: float [C, C] ``taxonomy_distance(class_names)``.
    """

    class_names: tuple[str, ...]
    tree: np.ndarray | None
    source: str | None
    taxonomy: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        c = len(self.class_names)
        if self.tree is not None:
            tree = np.asarray(self.tree, dtype=np.float64)
            if tree.shape != (c, c) or not np.allclose(tree, tree.T) or np.any(np.diag(tree) != 0):
                raise ValueError(f"SpeciesDistances: tree must be symmetric [{c}, {c}] with a zero diagonal")
            object.__setattr__(self, "tree", tree)
        object.__setattr__(self, "taxonomy", taxonomy_distance(self.class_names))

    @classmethod
    def names_only(cls, class_names: Sequence[str]) -> SpeciesDistances:
        """Genus and taxonomy from the names, no tree."""
        return cls(tuple(class_names), None, None)

    @classmethod
    def by_taxonomy(cls, class_names: Sequence[str]) -> SpeciesDistances:
        """The taxonomy as the tree: data without a species tree (real images)."""
        return cls(tuple(class_names), taxonomy_distance(class_names), "taxonomy")


def tree_distances(
    class_names: Sequence[str],
    covariance: Callable[[list[str]], np.ndarray],
    species: Sequence[str],
    source: str,
) -> SpeciesDistances:
    """Patristic distances between ``class_names`` on the tree whose shared-path covariance ``covariance`` gives.

    The tree is built over all of ``species`` (the generator's species: a subset's UPGMA tree would differ)
    and then restricted to the classes.

    Args:
        class_names: [C] the classes, each one of ``species``.
        covariance: ``species`` -> float [S, S] shared-path covariance with unit tip depth.
        species: [S] the species the tree is built over.
        source: the tree's name.
    """
    species = list(species)
    missing = [n for n in class_names if n not in species]
    if missing:
        raise ValueError(f"tree_distances: {', '.join(missing)} not among the tree's {len(species)} species")
    rows = [species.index(n) for n in class_names]
    dist = patristic_from_covariance(covariance(species))[np.ix_(rows, rows)]
    return SpeciesDistances(tuple(class_names), dist, source)


def mistake_metrics(
    pred: np.ndarray,
    true: np.ndarray,
    distances: SpeciesDistances,
    *,
    overall_mask: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> dict[str, float]:
    """``MISTAKE_KEYS`` of one set of predictions.

    Args:
        pred: int [M] predicted classes; true: int [M] true classes.
        distances: the classes' distances (``distances.class_names`` index = label).
        overall_mask: bool [M], the images that the micro numbers (``genus_acc``, the error distances and
            ``n_errors``) count, as ``acc`` in ``metrics.knn_metrics``; ``genus_per_class_acc`` counts all,
            as ``per_class_acc``. None = all.
        weight: float [M] per prediction; None = 1 each.

    Returns:
        ``{"genus_acc", "genus_per_class_acc", "error_tree_dist" (NaN without a tree), "error_taxonomy_dist",
        "n_errors"}``.
    """
    pred, true = np.asarray(pred, dtype=np.int64), np.asarray(true, dtype=np.int64)
    w = np.ones(len(true)) if weight is None else np.asarray(weight, dtype=np.float64)
    mask = np.ones(len(true), bool) if overall_mask is None else np.asarray(overall_mask, bool)
    names = distances.class_names
    _, macro = genus_accuracy(pred, true, names, weight=w)
    micro, _ = genus_accuracy(pred[mask], true[mask], names, weight=w[mask])
    taxo, n = error_tree_distance(pred[mask], true[mask], distances.taxonomy, weight=w[mask])
    tree = math.nan
    if distances.tree is not None:
        tree, _ = error_tree_distance(pred[mask], true[mask], distances.tree, weight=w[mask])
    return {
        "genus_acc": micro,
        "genus_per_class_acc": macro,
        "error_tree_dist": tree,
        "error_taxonomy_dist": taxo,
        "n_errors": n,
    }
