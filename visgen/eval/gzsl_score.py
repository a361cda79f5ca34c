"""Score one anchor set on one trained cell's cached features: both prototype methods, k-shot, permutation null.

Methods (each returns ``{k: metrics}`` for every k of the k-shot curve):

- ``ridge``: the pretrained embedding space (the one the KNN evaluation uses). Seen species' prototypes are
  the means of their training embeddings; a target species' prior prototype is its anchor mapped by kernel
  ridge fitted on the seen species (``zeroshot.choose_ridge``); k support images shrink it towards their mean.
- ``aligned``: the alignment head refitted on the cached trunk features (``align_head``); seen prototypes are
  the unit means of their aligned training embeddings, a target's prior is its unit anchor.

In both, kappa = sigma^2 / tau^2 (within-species image variance over the prior's error variance on species
left out of the fit: leave-one-species-out for the ridge, 4 groups of seen species for the head) weighs the
prior against k support images. Pure: numpy plus the torch head fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from visgen.eval.align_head import AlignHead, fit_align_heads
from visgen.eval.mistakes import SpeciesDistances
from visgen.eval.zeroshot import (
    METHODS,
    auroc,
    choose_ridge,
    class_means,
    class_spread,
    gzsl_metrics,
    novelty_scores,
    shrunk_prototype,
    sq_distances,
)

#: Bump when the k = 0 scores or the null's keys change: part of the key of the cached permutation nulls
#: (visgen/run/gzsl.py). 2: the null records AUSUC. 3: the aligned null's heads are fitted in batches.
NULL_VERSION = 3


@dataclass
class CellFeatures:
    """Cached outputs of a frozen trunk for one cell. ``*_x``: trunk features [n, F]; ``*_e``: embeddings [n, D].

    ``support`` holds every target species' withheld training images in the data module's seeded order
    (the first k of a species are its k-shot support). ``seen``: classes with training images that are
    not targets; ``targets``: the held-out (or k-shot) classes. ``distances``: the classes' genera and tree
    distances; given, the scores also say where the targets' errors land (``zeroshot.unseen_mistakes``).
    """

    train_x: np.ndarray
    train_e: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_e: np.ndarray
    test_y: np.ndarray
    support_x: np.ndarray
    support_e: np.ndarray
    support_y: np.ndarray
    seen: list[int]
    targets: list[int]
    num_classes: int
    distances: SpeciesDistances | None = None


def reduce_features(cell: CellFeatures, dims: int) -> CellFeatures:
    """Project every ``*_x`` onto the top ``dims`` principal components of the seen training features.

    The head refit then costs ~dims/F of the full fit, which the permutation null (100 refits per anchor set)
    needs on a CPU; the kept variance fraction is logged by the stage.
    """
    mean = cell.train_x.mean(axis=0)
    _, _, vt = np.linalg.svd(cell.train_x - mean, full_matrices=False)
    basis = vt[:dims].T
    proj = {k: (getattr(cell, k) - mean) @ basis for k in ("train_x", "test_x", "support_x")}
    return CellFeatures(**{**cell.__dict__, **proj})


def explained_variance(x: np.ndarray, dims: int) -> float:
    """Fraction of the variance of ``x`` [N, F] in its top ``dims`` principal components."""
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False) ** 2
    return float(s[:dims].sum() / s.sum())


@dataclass
class HeadSettings:
    """Settings of the aligned method's head refit (``align_head.fit_align_head``)."""

    steps: int = 50
    lr: float = 0.01
    margin: float = 0.5
    per_class: int = 16  # training images per seen species in the head fit (class-balanced, the first ones)


def _support(space: np.ndarray, y: np.ndarray, c: int, k: int) -> np.ndarray:
    return space[y == c][:k]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _score(
    cell: CellFeatures,
    train: np.ndarray,
    test: np.ndarray,
    support: np.ndarray,
    priors: np.ndarray,
    tau2: float,
    shots: Sequence[int],
    unit: bool,
) -> dict[int, dict[str, float]]:
    """Metrics per k in one space: seen means vs target priors shrunk towards k support rows."""
    means = class_means(train, cell.train_y, cell.seen)
    spread = class_spread(train, cell.train_y, cell.seen, means)
    sigma2 = float(np.mean(spread**2) / train.shape[1])
    kappa = sigma2 / max(tau2, 1e-12)
    novelty = auroc(novelty_scores(test, means, spread), np.isin(cell.test_y, cell.targets))
    seen_protos = _unit(means) if unit else means
    out = {}
    for k in shots:
        protos = np.zeros((cell.num_classes, train.shape[1]))
        protos[cell.seen] = seen_protos
        for i, c in enumerate(cell.targets):
            p = shrunk_prototype(priors[i], _support(support, cell.support_y, c, k), kappa)
            protos[c] = _unit(p) if unit else p
        scores = test @ protos.T if unit else -sq_distances(test, protos)
        listed = set(cell.seen) | set(cell.targets)
        scores[:, [c for c in range(cell.num_classes) if c not in listed]] = -np.inf
        metrics = gzsl_metrics(scores, cell.test_y, cell.targets, cell.seen, distances=cell.distances)
        out[int(k)] = {**metrics, "novelty_auroc": novelty}
    return out


@dataclass
class MethodSpace:
    """Where one method scores one anchor set: the cell's images embedded, and one DNA key per class.

    ``dna`` row c is class c's prototype from its anchor alone (the k = 0 prior): the anchor mapped by the ridge
    fitted on the seen species (``ridge``, every class, the seen ones included) or the unit anchor
    (``aligned``). The retrieval evaluation (``visgen.eval.gzsl_retrieval``) reads the same arrays.
    """

    train: np.ndarray  # [n_train, D] the seen species' training images
    test: np.ndarray  # [n_test, D]
    support: np.ndarray  # [n_support, D] the targets' withheld images
    dna: np.ndarray  # [C, D]
    unit: bool  # prototypes on the unit sphere, scored by cosine (aligned); else squared Euclidean (ridge)


def ridge_space(cell: CellFeatures, anchors: np.ndarray) -> tuple[MethodSpace, float, float]:
    """The ridge method's space for anchors [C, A]: (space, tau^2 of the map, its alpha)."""
    protos = class_means(cell.train_e, cell.train_y, cell.seen)
    fit, tau2 = choose_ridge(anchors[cell.seen], protos)
    space = MethodSpace(cell.train_e, cell.test_e, cell.support_e, fit.predict(anchors), unit=False)
    return space, tau2, fit.alpha


def aligned_space(
    cell: CellFeatures, anchors: np.ndarray, head: HeadSettings, seed: int, fitted: AlignHead | None = None
) -> MethodSpace:
    """The aligned method's space for anchors [C, A]: the head fitted on the seen species (unless ``fitted``
    gives it), unit anchors."""
    fitted = fitted or _fit_head(cell, cell.seen, anchors, head, seed)
    train, test, support = (fitted.embed(x) for x in (cell.train_x, cell.test_x, cell.support_x))
    return MethodSpace(train, test, support, _unit(anchors), unit=True)


def score_ridge(cell: CellFeatures, anchors: np.ndarray, shots: Sequence[int]) -> dict[int, dict[str, float]]:
    """The ridge method for anchors [C, A] (row c = class c); returns ``{k: metrics}``."""
    return _score_ridge(cell, anchors, shots)[0]


def _score_ridge(
    cell: CellFeatures, anchors: np.ndarray, shots: Sequence[int]
) -> tuple[dict[int, dict[str, float]], MethodSpace]:
    space, tau2, alpha = ridge_space(cell, anchors)
    res = _score(
        cell, space.train, space.test, space.support, space.dna[cell.targets], tau2, shots, unit=False
    )
    for metrics in res.values():
        metrics["alpha"] = alpha
    return res, space


def score_aligned(
    cell: CellFeatures, anchors: np.ndarray, shots: Sequence[int], head: HeadSettings, seed: int
) -> dict[int, dict[str, float]]:
    """The aligned method for anchors [C, A]; returns ``{k: metrics}``."""
    return _score_aligned(cell, anchors, shots, head, seed)[0]


def _score_aligned(
    cell: CellFeatures,
    anchors: np.ndarray,
    shots: Sequence[int],
    head: HeadSettings,
    seed: int,
    fitted: AlignHead | None = None,
) -> tuple[dict[int, dict[str, float]], MethodSpace]:
    space = aligned_space(cell, anchors, head, seed, fitted)
    # k = 0 never uses tau^2 (the prototype is the prior); k > 0 needs the prior's error on species the head
    # was not fitted on, which the in-sample fit would understate (it is trained to put them on their anchors).
    tau2 = _held_out_tau2(cell, anchors, head, seed) if max(shots) > 0 else 1.0
    res = _score(
        cell, space.train, space.test, space.support, space.dna[cell.targets], tau2, shots, unit=True
    )
    return res, space


def _fit_head(
    cell: CellFeatures, classes: Sequence[int], anchors: np.ndarray, head: HeadSettings, seed: int
) -> AlignHead:
    """The alignment head fitted on the first ``head.per_class`` training images of each of ``classes``."""
    return _fit_heads(cell, classes, anchors[None], head, seed)[0]


def _fit_heads(
    cell: CellFeatures, classes: Sequence[int], anchor_sets: np.ndarray, head: HeadSettings, seed: int
) -> list[AlignHead]:
    """``_fit_head`` for each of the anchor sets [P, C, A], fitted together (``fit_align_heads``)."""
    rows = np.concatenate([np.flatnonzero(cell.train_y == c)[: head.per_class] for c in classes])
    return fit_align_heads(
        cell.train_x[rows], cell.train_y[rows], anchor_sets,
        steps=head.steps, lr=head.lr, margin=head.margin, seed=seed,
    )  # fmt: skip


def _held_out_tau2(
    cell: CellFeatures, anchors: np.ndarray, head: HeadSettings, seed: int, folds: int = 4
) -> float:
    """Squared error per dimension of a unit anchor as the aligned prototype of a species outside the head's fit.

    The seen species are split into ``folds`` groups (class order); the head is refitted without each group and
    the group's unit mean aligned training embedding is compared with its unit anchor.
    """
    unit_anchors = _unit(anchors)
    errors = []
    for group in np.array_split(np.asarray(cell.seen), folds):
        fitted = _fit_head(cell, [c for c in cell.seen if c not in set(group)], anchors, head, seed)
        on = np.isin(cell.train_y, group)
        means = _unit(class_means(fitted.embed(cell.train_x[on]), cell.train_y[on], group))
        errors.extend(((means - unit_anchors[group]) ** 2).sum(1))
    return float(np.mean(errors) / anchors.shape[1])


def score(
    cell: CellFeatures, anchors: np.ndarray, method: str, shots: Sequence[int], head: HeadSettings, seed: int
) -> dict[int, dict[str, float]]:
    """Dispatch to ``score_ridge`` / ``score_aligned``."""
    return score_with_space(cell, anchors, method, shots, head, seed)[0]


def score_with_space(
    cell: CellFeatures, anchors: np.ndarray, method: str, shots: Sequence[int], head: HeadSettings, seed: int
) -> tuple[dict[int, dict[str, float]], MethodSpace]:
    """``score`` and the space it scored in (so the retrieval evaluation needs no second head fit)."""
    if method == "ridge":
        return _score_ridge(cell, anchors, shots)
    if method == "aligned":
        return _score_aligned(cell, anchors, shots, head, seed)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def permutation_null(
    cell: CellFeatures,
    anchors: np.ndarray,
    method: str,
    perms: np.ndarray,
    head: HeadSettings,
    seed: int,
    keys: Sequence[str] = ("zsl_top1", "unseen_top1", "h", "ausuc"),
) -> dict[str, np.ndarray]:
    """Unseen (k = 0) metrics with the anchors' species assignment permuted: row c gets anchor ``perm[c]``.

    Args:
        perms: int [P, C], one permutation of the classes per row (identity = the observed value).

    Returns:
        ``{key: float [P]}``.
    """
    out = {k: np.empty(len(perms)) for k in keys}
    # The aligned method's heads are fitted in batches (one head per permutation, same images): the refits are
    # most of the null's cost.
    heads = _fit_heads(cell, cell.seen, anchors[perms], head, seed) if method == "aligned" else None
    for i, perm in enumerate(perms):
        if heads is None:
            metrics = score(cell, anchors[perm], method, [0], head, seed)[0]
        else:
            metrics = _score_aligned(cell, anchors[perm], [0], head, seed, heads[i])[0][0]
        for k in keys:
            out[k][i] = metrics[k]
    return out


def permutations(n_classes: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random permutations of the classes, int [n, C] (reproducible from ``rng``'s seed)."""
    return np.stack([rng.permutation(n_classes) for _ in range(n)]) if n else np.zeros((0, n_classes), int)


def p_value(observed: float, null: np.ndarray) -> float:
    """One-sided permutation p-value (1 + #{null >= observed}) / (1 + P)."""
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)))
