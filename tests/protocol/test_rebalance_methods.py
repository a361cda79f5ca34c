"""Rebalancing baselines against hand computations and oracles; the equiangular anchor control."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from visgen.eval.rebalance import (
    METHODS,
    choose_tau,
    class_balanced_indices,
    class_prior,
    crt_retrain,
    logit_adjust,
    per_class_accuracy,
    tau_normalise,
)
from visgen.genetics.anchors import control_anchors, equiangular_anchors
from visgen.run import checks


def test_tau_norm_by_hand_and_tau_zero_is_the_plain_classifier() -> None:
    w = np.array([[3.0, 4.0], [0.0, 2.0]])  # row norms 5 and 2
    np.testing.assert_allclose(tau_normalise(w, 1.0), [[0.6, 0.8], [0.0, 1.0]])
    np.testing.assert_allclose(
        tau_normalise(w, 0.5), [[3 / math.sqrt(5), 4 / math.sqrt(5)], [0.0, math.sqrt(2)]]
    )
    rng = np.random.default_rng(0)
    w, b, z = rng.normal(size=(7, 16)), rng.normal(size=7), rng.normal(size=(50, 16))
    np.testing.assert_array_equal(tau_normalise(w, 0.0), w)
    np.testing.assert_array_equal(np.argmax(z @ tau_normalise(w, 0.0).T + b, 1), np.argmax(z @ w.T + b, 1))


def test_logit_adjustment_by_hand_and_a_uniform_prior_changes_no_prediction() -> None:
    adjusted = logit_adjust(np.array([[1.0, 0.0]]), np.array([0.9, 0.1]), tau=1.0)
    np.testing.assert_allclose(adjusted, [[1 - math.log(0.9), -math.log(0.1)]])  # 1.105 < 2.303: class 1 now
    logits = np.random.default_rng(1).normal(size=(40, 5))
    uniform = logit_adjust(logits, np.full(5, 0.2), tau=1.7)
    np.testing.assert_allclose(uniform - logits, 1.7 * math.log(5))
    np.testing.assert_array_equal(uniform.argmax(1), logits.argmax(1))
    np.testing.assert_allclose(class_prior([30, 10, 0]), [30 / 41, 10 / 41, 1 / 41])


def test_choose_tau_maximises_per_class_accuracy_and_breaks_ties_low() -> None:
    labels = np.array([0, 0, 0, 0, 1])
    # τ = 0 gets the 4 common images right (per-class 0.5); τ = 1 and 2 get everything (per-class 1.0).
    preds = {0.0: np.array([0, 0, 0, 0, 0]), 1.0: labels, 2.0: labels}
    tau, scores = choose_tau(lambda t: preds[t], labels, [0.0, 1.0, 2.0])
    assert tau == 1.0 and scores == [0.5, 1.0, 1.0]
    assert per_class_accuracy(np.array([0, 1, 1, 1, 1]), labels) == pytest.approx((1 / 4 + 1) / 2)


def _tolerance(p: float, n: int, z: float = 4.5) -> float:
    return z * math.sqrt(p * (1 - p) / n)


def test_crt_sampling_draws_classes_uniformly_and_images_uniformly_within_a_class() -> None:
    labels = np.repeat(np.arange(5), [500, 100, 20, 5, 2])
    n = 100_000
    drawn = class_balanced_indices(labels, n, np.random.default_rng(2))
    freq = np.bincount(labels[drawn], minlength=5) / n
    for f in freq:
        assert abs(f - 0.2) < _tolerance(0.2, n)
    within = drawn[labels[drawn] == 3]  # 5 images
    counts = np.bincount(within, minlength=len(labels))[labels == 3] / len(within)
    for f in counts:
        assert abs(f - 0.2) < _tolerance(0.2, len(within))


def test_crt_puts_the_boundary_of_two_imbalanced_gaussians_at_the_balanced_optimum() -> None:
    # Class 0: 950 points from N(-1, 1); class 1: 50 from N(+1, 1). Balanced CE's population optimum is the
    # midpoint 0; instance-weighted CE would put it at log(950/50) / 2 = 1.47 (towards the rare class).
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(-1, 1, 950), rng.normal(1, 1, 50)])[:, None]
    y = np.repeat([0, 1], [950, 50])
    torch.manual_seed(0)
    clf = torch.nn.Linear(1, 2)
    losses = crt_retrain(
        torch.tensor(x, dtype=torch.float32), torch.tensor(y), torch.nn.Identity(), clf,
        epochs=40, batch_size=50, lr=0.05, seed=0,
    )  # fmt: skip
    assert losses[-1] < losses[0]
    w, b = clf.weight.detach().numpy(), clf.bias.detach().numpy()
    boundary = -(b[1] - b[0]) / (w[1, 0] - w[0, 0])  # where the two logits are equal
    assert abs(boundary) < 0.5, boundary


def test_equiangular_anchors_are_a_regular_simplex() -> None:
    a = equiangular_anchors(32, 256, seed=0)
    assert a.shape == (32, 256)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-12)
    cos = a @ a.T
    off = cos[~np.eye(32, dtype=bool)]
    np.testing.assert_allclose(off, -1 / 31, atol=1e-12)
    np.testing.assert_array_equal(a, equiangular_anchors(32, 256, seed=0))
    assert not np.allclose(a, equiangular_anchors(32, 256, seed=1))
    np.testing.assert_array_equal(control_anchors(np.ones((32, 256)), "equiangular", seed=0), a)
    with pytest.raises(ValueError, match="dim >= n"):
        equiangular_anchors(10, 5)


def test_checks_know_the_rebalance_methods() -> None:
    assert checks.REBALANCE_METHODS == METHODS
