"""GZSL metrics, the ridge map, its leave-one-out choice, novelty AUROC and the k-shot prior: against hand
computations, direct numpy solves and brute force."""

from __future__ import annotations

import numpy as np
import pytest

from visgen.eval.zeroshot import (
    auroc,
    ausuc,
    choose_ridge,
    fit_ridge,
    gzsl_metrics,
    loo_errors,
    novelty_scores,
    shrunk_prototype,
)


def test_gzsl_metrics_match_a_hand_computed_example() -> None:
    # 4 classes: seen {0, 1}, targets {2, 3}. Rows: scores per class; labels below.
    scores = np.array(
        [
            [0.9, 0.1, 0.0, 0.0],  # label 0: top-1 right
            [0.2, 0.7, 0.1, 0.0],  # label 0: wrong (class 1 wins), truth 2nd
            [0.1, 0.8, 0.0, 0.3],  # label 1: right
            [0.5, 0.1, 0.4, 0.2],  # label 2: wrong among all (0 wins), right among targets {2, 3}
            [0.0, 0.1, 0.9, 0.2],  # label 2: right
            [0.3, 0.0, 0.6, 0.5],  # label 3: wrong (2 wins), wrong among targets too
        ]
    )
    labels = np.array([0, 0, 1, 2, 2, 3])
    m = gzsl_metrics(scores, labels, targets=[2, 3], seen=[0, 1], topk=2)
    # seen per-class: class 0 1/2, class 1 1/1 -> 0.75; unseen per-class top-1: class 2 1/2, class 3 0/1 -> 0.25
    assert m["seen_acc"] == pytest.approx(0.75)
    assert m["unseen_top1"] == pytest.approx(0.25)
    assert m["h"] == pytest.approx(2 * 0.75 * 0.25 / (0.75 + 0.25))
    # top-2 over all classes: image 4 (truth 2nd) hit, image 5 hit, image 6 (truth 2nd: 0.5 after 0.6) hit -> class 2 1, class 3 1
    assert m["unseen_top2"] == pytest.approx(1.0)
    # among the targets only: class 2 2/2, class 3 0/1 -> 0.5
    assert m["zsl_top1"] == pytest.approx(0.5)


def test_tied_prototypes_score_chance_not_zero() -> None:
    scores = np.array([[0.0, 0.5, 0.5, 0.5, 0.5]] * 4)  # four targets with one shared prototype
    labels = np.array([1, 2, 3, 4])
    m = gzsl_metrics(scores, labels, targets=[1, 2, 3, 4], seen=[0])
    assert m["zsl_top1"] == pytest.approx(0.25) and m["unseen_top5"] == pytest.approx(1.0)
    noisy = scores + np.array([0.0, 0.0, 1e-13, -1e-13, 2e-13])  # rounding noise is no preference
    assert gzsl_metrics(noisy, labels, targets=[1, 2, 3, 4], seen=[0])["zsl_top1"] == pytest.approx(0.25)


def _seen_unseen_curve_by_brute_force(scores, labels, targets, seen):
    """(A_U, A_S) of calibrated stacking at gamma below, between and above every margin, by direct argmax."""
    seen_mask = np.isin(np.arange(scores.shape[1]), seen)
    margin = scores[:, seen].max(1) - scores[:, targets].max(1)
    cuts = np.unique(margin)
    gammas = np.concatenate([[cuts[0] - 1.0], (cuts[:-1] + cuts[1:]) / 2, [cuts[-1] + 1.0]])

    def per_class(pred: np.ndarray, classes: list[int]) -> float:
        return float(np.mean([(pred[labels == c] == c).mean() for c in classes if (labels == c).any()]))

    points = []
    for g in gammas:
        pred = (scores - g * seen_mask).argmax(1)
        points.append((per_class(pred, targets), per_class(pred, seen)))
    return np.array(points)


def test_ausuc_is_the_trapezoid_area_of_the_brute_force_calibration_sweep() -> None:
    rng = np.random.default_rng(3)
    seen, targets = [0, 1, 2, 3, 4], [5, 6, 7]
    labels = rng.integers(0, 8, size=300)
    scores = rng.normal(size=(300, 8)) + 1.5 * np.eye(8)[labels]  # informative, continuous: no ties
    scores[:, seen] += 0.8  # seen bias, as uncalibrated prototypes have
    curve = _seen_unseen_curve_by_brute_force(scores, labels, targets, seen)
    assert curve[0, 0] == 0.0 and curve[-1, 1] == 0.0  # the sweep spans both ends
    expected = np.sum(np.diff(curve[:, 0]) * (curve[1:, 1] + curve[:-1, 1]) / 2)
    assert ausuc(scores, labels, targets, seen) == pytest.approx(expected, abs=1e-12)
    assert gzsl_metrics(scores, labels, targets, seen)["ausuc"] == pytest.approx(expected, abs=1e-12)


def test_ausuc_is_one_when_some_calibration_names_every_image_and_area_shrinks_with_errors() -> None:
    labels = np.array([0, 1, 2, 3])
    perfect = np.eye(4) + np.array([5.0, 5.0, 0.0, 0.0])  # seen {0, 1} win everywhere until gamma > 5
    assert ausuc(perfect, labels, targets=[2, 3], seen=[0, 1]) == pytest.approx(1.0)
    swapped = perfect[:, [0, 1, 3, 2]]  # the targets' own scores swapped: no target image is ever right
    assert ausuc(swapped, labels, targets=[2, 3], seen=[0, 1]) == pytest.approx(0.0)


def test_ridge_map_equals_the_direct_primal_solve() -> None:
    rng = np.random.default_rng(0)
    anchors, protos = rng.normal(size=(12, 5)), rng.normal(size=(12, 7))
    alpha = 0.7
    ac, yc = anchors - anchors.mean(0), protos - protos.mean(0)
    w = np.linalg.solve(ac.T @ ac + alpha * np.eye(5), ac.T @ yc)  # primal ridge with a free intercept
    new = rng.normal(size=(3, 5))
    expected = protos.mean(0) + (new - anchors.mean(0)) @ w
    np.testing.assert_allclose(
        fit_ridge(anchors, protos, alpha).predict(new), expected, rtol=1e-10, atol=1e-12
    )


def test_leave_one_out_shortcut_equals_refitting_without_each_species() -> None:
    rng = np.random.default_rng(1)
    anchors, protos = rng.normal(size=(9, 4)), rng.normal(size=(9, 3))
    alphas = [0.01, 1.0, 30.0]
    brute = []
    for alpha in alphas:
        sq = []
        for i in range(9):
            keep = np.arange(9) != i
            pred = fit_ridge(anchors[keep], protos[keep], alpha).predict(anchors[i : i + 1])[0]
            sq.append((pred - protos[i]) ** 2)
        brute.append(np.mean(sq))
    np.testing.assert_allclose(loo_errors(anchors, protos, alphas), brute, rtol=1e-9)


def test_chosen_ridge_recovers_an_exactly_linear_map() -> None:
    rng = np.random.default_rng(2)
    anchors = rng.normal(size=(20, 6))
    protos = 3.0 + anchors @ rng.normal(size=(6, 4))
    fit, tau2 = choose_ridge(anchors[:16], protos[:16])
    np.testing.assert_allclose(fit.predict(anchors[16:]), protos[16:], atol=0.05)
    assert tau2 < 1e-3


def test_auroc_equals_the_brute_force_pair_count() -> None:
    rng = np.random.default_rng(3)
    score = np.round(rng.normal(size=40), 1)  # rounded: ties occur
    positive = rng.random(40) < 0.4
    pos, neg = score[positive], score[~positive]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auroc(score, positive) == pytest.approx(pairs)


def test_novelty_is_the_distance_to_the_nearest_seen_prototype_in_units_of_its_spread() -> None:
    means = np.array([[0.0, 0.0], [10.0, 0.0]])
    spread = np.array([1.0, 4.0])
    x = np.array([[3.0, 4.0], [10.0, 2.0]])
    # image 1: 5/1 to class 0, sqrt(49+16)/4 to class 1 -> 2.016; image 2: sqrt(104)/1 vs 2/4 -> 0.5
    np.testing.assert_allclose(novelty_scores(x, means, spread), [np.sqrt(65) / 4, 0.5])


def test_k_shot_prototype_is_the_precision_weighted_mean() -> None:
    prior, support = np.array([0.0, 4.0]), np.array([[2.0, 0.0], [4.0, 2.0]])
    sigma2, tau2 = 2.0, 0.5  # kappa = 4
    expected = (prior / tau2 + support.sum(0) / sigma2) / (1 / tau2 + 2 / sigma2)
    np.testing.assert_allclose(shrunk_prototype(prior, support, sigma2 / tau2), expected)
    np.testing.assert_allclose(shrunk_prototype(prior, support[:0], 4.0), prior)


def test_unseen_mistakes_by_hand() -> None:
    # The example above with names: 0 and 2 are congeners (Bb), so are 1 and 3 (Cc).
    from visgen.eval.mistakes import SpeciesDistances

    scores = np.array(
        [
            [0.9, 0.1, 0.0, 0.0],
            [0.2, 0.7, 0.1, 0.0],
            [0.1, 0.8, 0.0, 0.3],
            [0.5, 0.1, 0.4, 0.2],  # label 2 -> 0: a congener
            [0.0, 0.1, 0.9, 0.2],  # label 2 -> 2: right
            [0.3, 0.0, 0.6, 0.5],  # label 3 -> 2: another genus
        ]
    )
    labels = np.array([0, 0, 1, 2, 2, 3])
    tree = np.array([[0, 1.5, 0.7, 2], [1.5, 0, 2, 0.9], [0.7, 2, 0, 1.9], [2, 0.9, 1.9, 0]])
    distances = SpeciesDistances(("Bb_x", "Cc_y", "Bb_z", "Cc_w"), tree, "hand")
    m = gzsl_metrics(scores, labels, targets=[2, 3], seen=[0, 1], topk=2, distances=distances)
    assert m["unseen_genus_acc"] == pytest.approx((2 / 2 + 0 / 1) / 2)  # per target class, as unseen_top1
    assert m["unseen_error_tree_dist"] == pytest.approx(
        (0.7 + 1.9) / 2
    )  # the seen images' errors do not count
    assert m["unseen_error_taxonomy_dist"] == pytest.approx((1 + 2) / 2)
    assert m["unseen_n_errors"] == 2
    assert "unseen_genus_acc" not in gzsl_metrics(scores, labels, targets=[2, 3], seen=[0, 1])


def test_tied_predictions_share_their_outcomes_evenly() -> None:
    from visgen.eval.mistakes import SpeciesDistances

    # Four targets with one shared prototype: each image is a four-way tie; 1-2 and 3-4 are congeners.
    scores = np.array([[0.0, 0.5, 0.5, 0.5, 0.5]] * 4) + np.array([0.0, 0.0, 1e-13, -1e-13, 2e-13])
    labels = np.array([1, 2, 3, 4])
    names = ("Aa_a", "Bb_b", "Bb_c", "Cc_d", "Cc_e")
    m = gzsl_metrics(scores, labels, [1, 2, 3, 4], [0], distances=SpeciesDistances.by_taxonomy(names))
    assert m["unseen_genus_acc"] == pytest.approx(0.5)  # itself or its congener: 2 of 4 tied classes
    assert m["unseen_n_errors"] == pytest.approx(4 * 3 / 4)
    assert m["unseen_error_taxonomy_dist"] == pytest.approx((1 + 2 + 2) / 3)  # congener 1, two others 2
