"""Generalized zero-shot and k-shot scoring from class prototypes (pure numpy).

Target species (unseen, or k-shot) get a prototype from their DNA alone — an anchor mapped into the visual
space — optionally shrunk towards the mean of k support images; seen species get the mean of their training
images. Test images of all species are then classified among all prototypes (GZSL).

Shapes: N images, C classes, D embedding dims, S seen species, A anchor dims.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from visgen.eval.mistakes import SpeciesDistances, mistake_metrics

#: The fixed rungs of the GZSL anchor ladder: positive controls (ForamSim's oracles) before, negative controls after
#: the DNA encoders' rungs ``<encoder>_<mode>`` (``visgen/run/gzsl.py`` builds each), and the two ways an anchor
#: becomes a prototype (``visgen/eval/gzsl_score.py``); their names key ``test/gzsl/<anchor>/<method>``.
ORACLES: tuple[str, ...] = ("oracle_traits", "oracle_tree")
CONTROLS: tuple[str, ...] = ("shuffled", "random", "equiangular")
#: Anchors learnt per cell from the DNA with image-DNA InfoNCE on the seen species (``visgen/eval/tower_fit.py``).
LEARNED: tuple[str, ...] = ("tower",)
LADDER: tuple[str, ...] = ORACLES + LEARNED + CONTROLS
#: Each DNA encoder's rungs ``<encoder>_<mode>`` (``visgen.genetics.anchors.preprocess_anchors`` modes).
ENCODER_MODES: tuple[str, ...] = ("raw", "centred", "whitened")
METHODS: tuple[str, ...] = ("aligned", "ridge")

#: Regularisation grid of the ridge map, in units of the mean diagonal of the anchors' (centred) Gram matrix.
ALPHA_GRID: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 2, 11))


def ladder_names(anchors: Sequence[str], encoders: Sequence[str]) -> list[str]:
    """The rungs of ``gzsl.anchors`` in order, its entry ``encoders`` expanded to ``<e>_raw``, ``<e>_centred``,
    ``<e>_whitened`` for each DNA encoder ``e`` of ``gzsl.encoders`` (in that order)."""
    out: list[str] = []
    for name in anchors:
        out += [f"{e}_{m}" for e in encoders for m in ENCODER_MODES] if name == "encoders" else [str(name)]
    return out


def class_means(x: np.ndarray, y: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Mean of ``x`` [N, D] over the rows of each class in ``classes`` -> [len(classes), D]."""
    return np.stack([x[y == c].mean(axis=0) for c in classes])


def class_spread(x: np.ndarray, y: np.ndarray, classes: Sequence[int], means: np.ndarray) -> np.ndarray:
    """RMS distance of each class's rows to its mean -> [len(classes)] (a class of one image: the median spread)."""
    spread = np.array(
        [np.sqrt(((x[y == c] - m) ** 2).sum(axis=1).mean()) for c, m in zip(classes, means, strict=True)]
    )
    spread[spread <= 0] = np.median(spread[spread > 0]) if (spread > 0).any() else 1.0
    return spread


@dataclass
class RidgeMap:
    """Ridge regression anchor -> visual prototype with an unpenalised intercept, in dual (kernel) form.

    Fitted on centred anchors and prototypes: ``predict(a) = mean_y + (a - mean_a) A_c^T (K + alpha I)^-1 Y_c``
    with the linear kernel ``K = A_c A_c^T``; this equals the primal ridge ``mean_y + (a - mean_a) W``,
    ``W = (A_c^T A_c + alpha I)^-1 A_c^T Y_c``. On the tree embedding (rows of sqrt(C)) K is the tree
    covariance itself, i.e. the map is the Brownian-motion (GP) predictor of the unseen species' prototype.
    """

    anchors: np.ndarray  # [S, A] centred training anchors
    mean_anchor: np.ndarray  # [A]
    mean_proto: np.ndarray  # [D]
    dual: np.ndarray  # [S, D]
    alpha: float

    def predict(self, anchors: np.ndarray) -> np.ndarray:
        """Prototypes [M, D] for anchors [M, A]."""
        return self.mean_proto + (anchors - self.mean_anchor) @ self.anchors.T @ self.dual


def fit_ridge(anchors: np.ndarray, protos: np.ndarray, alpha: float) -> RidgeMap:
    """Fit ``RidgeMap`` on seen species: anchors [S, A], prototypes [S, D], absolute ``alpha`` > 0."""
    mean_a, mean_y = anchors.mean(axis=0), protos.mean(axis=0)
    ac = anchors - mean_a
    dual = np.linalg.solve(ac @ ac.T + alpha * np.eye(len(ac)), protos - mean_y)
    return RidgeMap(ac, mean_a, mean_y, dual, float(alpha))


def loo_errors(anchors: np.ndarray, protos: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """Leave-one-species-out mean squared prototype error per dimension, one value per alpha -> [len(alphas)].

    Exact shortcut for penalised least squares: the fit is ``Y_hat = H Y`` with
    ``H = 11^T/S + K (K + alpha I)^-1`` (K the centred Gram matrix), and the leave-one-out residual of
    species i is ``(Y - H Y)_i / (1 - H_ii)``. One eigendecomposition of K serves every alpha.
    """
    n = len(anchors)
    ac = anchors - anchors.mean(axis=0)
    vals, vecs = np.linalg.eigh(ac @ ac.T)
    vals = np.clip(vals, 0.0, None)
    out = []
    for alpha in alphas:
        hat = np.full((n, n), 1.0 / n) + (vecs * (vals / (vals + alpha))) @ vecs.T
        resid = (protos - hat @ protos) / (1.0 - np.diag(hat))[:, None]
        out.append(float((resid**2).mean()))
    return np.asarray(out)


def choose_ridge(anchors: np.ndarray, protos: np.ndarray) -> tuple[RidgeMap, float]:
    """Fit the ridge map with alpha chosen by leave-one-seen-species-out prototype error.

    A held-out *species* is the validation unit an unseen species needs (its images say nothing about how
    well the map extrapolates to a species it was not fitted on). Scale: alpha = r * mean diag of the
    centred Gram matrix, r in ``ALPHA_GRID``.

    Returns:
        (the map refitted on all seen species at the best alpha, its leave-one-out mean squared error per
        prototype dimension: the prior variance tau^2 of a mapped prototype).
    """
    ac = anchors - anchors.mean(axis=0)
    scale = max(float(np.mean((ac**2).sum(1))), 1e-12)
    alphas = [r * scale for r in ALPHA_GRID]
    errors = loo_errors(anchors, protos, alphas)
    best = int(np.argmin(errors))
    return fit_ridge(anchors, protos, alphas[best]), float(errors[best])


def shrunk_prototype(prior: np.ndarray, support: np.ndarray, kappa: float) -> np.ndarray:
    """Posterior mean of a prototype: ``(kappa * prior + sum(support)) / (kappa + k)`` for k support rows [k, D].

    With a Gaussian prior N(prior, tau^2) on the class mean and images N(mean, sigma^2), kappa = sigma^2/tau^2
    (Badirli et al.'s DNA-as-prior idea in its simplest, closed form). k = 0 gives the prior.
    """
    return (kappa * prior + support.sum(axis=0)) / (kappa + len(support))


def topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Probability [N] that the true class lands in the top ``k`` of each row of ``scores`` [N, C].

    Ties (equal up to a relative 1e-9) are broken uniformly at random in expectation: with g classes scoring
    above the truth and e classes (the truth included) tied with it, the hit probability is
    ``clip((k - g) / e, 0, 1)``. So a method that
    gives every target the same prototype scores exactly chance, not zero.
    """
    true = scores[np.arange(len(labels)), labels][:, None]
    # Ties up to rounding: whitened SGT anchors are a regular simplex, so the ridge map gives all targets the
    # same prototype up to ~1e-12, and exact comparison then let rounding noise pick a winner (measured: 37.9 %
    # ZSL top-1 instead of chance 25 % on one cell).
    tol = 1e-9 * np.maximum(1.0, np.abs(true))
    greater = (scores > true + tol).sum(axis=1)
    equal = (np.abs(scores - true) <= tol).sum(axis=1)
    return np.clip((k - greater) / equal, 0.0, 1.0)


def per_class_topk(scores: np.ndarray, labels: np.ndarray, classes: Sequence[int], k: int) -> float:
    """Mean over ``classes`` (those with test images) of the fraction of their images with truth in the top k."""
    hit = topk_hits(scores, labels, k)
    accs = [hit[labels == c].mean() for c in classes if (labels == c).any()]
    return float(np.mean(accs)) if accs else float("nan")


def restrict(
    scores: np.ndarray, labels: np.ndarray, classes: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The images of ``classes`` scored among ``classes`` only: (row mask [N], scores [n, len(classes)], labels
    as positions in ``classes`` [n])."""
    classes = list(classes)
    rows = np.isin(labels, classes)
    position = {c: i for i, c in enumerate(classes)}
    local = np.array([position[c] for c in labels[rows].tolist()], dtype=np.int64)
    return rows, scores[rows][:, classes], local


def gzsl_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    targets: Sequence[int],
    seen: Sequence[int],
    topk: int = 5,
    distances: SpeciesDistances | None = None,
) -> dict[str, float]:
    """GZSL metrics of test ``scores`` [N, C] over all classes.

    Returns:
        ``unseen_top1`` / ``unseen_top5`` (per-class mean over the target species, predicted among ALL
        classes), ``seen_acc`` (per-class top-1 over seen species), ``h`` (harmonic mean of seen_acc and
        unseen_top1), ``zsl_top1``: per-class top-1 of the targets' images among the targets only
        (chance = 1 / number of targets), and ``ausuc`` (``ausuc``: seen-unseen trade-off over every
        calibration); with ``distances``, also where the targets' errors land (``unseen_mistakes``).
    """
    targets, seen = list(targets), list(seen)
    u1 = per_class_topk(scores, labels, targets, 1)
    s1 = per_class_topk(scores, labels, seen, 1)
    _, sub, local = restrict(scores, labels, targets)
    zsl = per_class_topk(sub, local, range(len(targets)), 1)
    return {
        "unseen_top1": u1,
        f"unseen_top{topk}": per_class_topk(scores, labels, targets, topk),
        "seen_acc": s1,
        "h": 0.0 if u1 + s1 == 0 else 2 * u1 * s1 / (u1 + s1),
        "zsl_top1": zsl,
        "ausuc": ausuc(scores, labels, targets, seen),
        **(unseen_mistakes(scores, labels, targets, distances) if distances is not None else {}),
    }


def tied_top1(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's top-1 class, a tie (as ``topk_hits``: equal up to a relative 1e-9) split evenly.

    Args:
        scores: [N, C], every row with a finite maximum.

    Returns:
        ``(row [P], pred [P], weight [P])``: one entry per (image, tied top class), weight 1 / (classes tied in
        that row), so each image's weights sum to 1.
    """
    top = scores.max(axis=1, keepdims=True)
    tied = scores >= top - 1e-9 * np.maximum(1.0, np.abs(top))
    row, pred = np.nonzero(tied)
    return row, pred, 1.0 / tied.sum(axis=1)[row]


def unseen_mistakes(
    scores: np.ndarray, labels: np.ndarray, targets: Sequence[int], distances: SpeciesDistances
) -> dict[str, float]:
    """Where the target species' test images land when predicted among ALL classes (as ``unseen_top1``).

    Args:
        scores: [N, C] test scores; labels: int [N].
        targets: the target (unseen) classes; only their images count.
        distances: the classes' genera and distances (``visgen.eval.mistakes``).

    Returns:
        ``unseen_genus_acc`` (per-class mean over the targets, as ``unseen_top1``), ``unseen_error_tree_dist``
        and ``unseen_error_taxonomy_dist`` (over the errors of all target images), ``unseen_n_errors``; a
        tied maximum counts each tied class with an even share.
    """
    rows = np.flatnonzero(np.isin(labels, list(targets)))
    row, pred, weight = tied_top1(scores[rows])
    m = mistake_metrics(pred, labels[rows][row], distances, weight=weight)
    return {
        "unseen_genus_acc": m["genus_per_class_acc"],
        "unseen_error_tree_dist": m["error_tree_dist"],
        "unseen_error_taxonomy_dist": m["error_taxonomy_dist"],
        "unseen_n_errors": m["n_errors"],
    }


def ausuc(scores: np.ndarray, labels: np.ndarray, targets: Sequence[int], seen: Sequence[int]) -> float:
    """Area under the seen-unseen accuracy curve (Chao et al., ECCV 2016), exact.

    Calibrated stacking predicts ``argmax_c scores[c] - gamma * [c is seen]``; as ``gamma`` runs from -inf to
    +inf, per-class accuracy on the seen species (A_S) falls from its best to 0 and on the targets (A_U) rises
    from 0 to its best. Image i flips from its best seen to its best target class at gamma = its margin
    ``max_seen - max_target``, and is right after the flip with the tie-aware probability of ``topk_hits``
    within its own group, so sweeping the sorted margins traces the whole curve. Its area (trapezoids over
    A_U) needs no gamma chosen on data, which is why it summarises GZSL when seen prototypes win uncalibrated.
    """
    targets, seen = list(targets), list(seen)

    def group_hits(classes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per image: hit probability within ``classes`` times its per-class weight 1 / (n_images * n_classes)."""
        rows, sub, local = restrict(scores, labels, classes)
        present, counts = np.unique(local, return_counts=True)
        weight = dict(zip(present.tolist(), (1.0 / (counts * len(present))).tolist(), strict=True))
        out = np.zeros(len(labels))
        out[rows] = topk_hits(sub, local, 1) * np.array([weight[c] for c in local.tolist()])
        return out

    if not (np.isin(labels, seen).any() and np.isin(labels, targets).any()):
        return float("nan")
    margin = scores[:, seen].max(axis=1) - scores[:, targets].max(axis=1)
    loss = group_hits(seen)  # A_S lost when gamma passes the image's margin
    gain = group_hits(targets)  # A_U gained there
    edges, group = np.unique(margin, return_inverse=True)
    d_unseen = np.bincount(group, weights=gain, minlength=len(edges))
    d_seen = np.bincount(group, weights=loss, minlength=len(edges))
    a_seen_before = loss.sum() - np.concatenate([[0.0], np.cumsum(d_seen)[:-1]])
    return float(np.sum(d_unseen * (a_seen_before - d_seen / 2.0)))


def novelty_scores(x: np.ndarray, means: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Per image: distance to the nearest seen prototype relative to that species' spread -> [N] (high = novel)."""
    return (np.sqrt(sq_distances(x, means)) / spread[None, :]).min(axis=1)


def sq_distances(x: np.ndarray, protos: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances [N, M] between rows of ``x`` [N, D] and ``protos`` [M, D] (one matmul)."""
    sq = (x**2).sum(1)[:, None] - 2.0 * x @ protos.T + (protos**2).sum(1)[None, :]
    return np.clip(sq, 0.0, None)


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``positive`` (bool) vs the rest; ties count one half."""
    from scipy.stats import rankdata

    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
