"""Novelty = distance to the nearest class prototype / that class's spread, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from visgen.eval.prototype_novelty import class_prototypes, novelty_scores


def test_prototypes_spreads_and_novelty_on_a_hand_worked_example() -> None:
    # Class 0: (0,0) and (2,0) -> mean (1,0), spread 1. Class 1: (10,0),(10,4) -> mean (10,2), spread 2.
    # Class 2: one image (0,10) -> spread = median of [1, 2] = 1.5. Class 3: no gallery image.
    gallery = np.array([[0, 0], [2, 0], [10, 0], [10, 4], [0, 10]], dtype=float)
    labels = np.array([0, 0, 1, 1, 2])
    protos, spreads = class_prototypes(gallery, labels, 4)
    np.testing.assert_allclose(protos[:3], [[1, 0], [10, 2], [0, 10]])
    assert np.isnan(protos[3]).all() and np.isnan(spreads[3])
    np.testing.assert_allclose(spreads[:3], [1.0, 2.0, 1.5])
    queries = np.array([[1, 3], [10, 8], [0, 13]], dtype=float)
    novelty, nearest, dist = novelty_scores(queries, protos, spreads)
    assert nearest.tolist() == [0, 1, 2]
    np.testing.assert_allclose(novelty, [3 / 1.0, 6 / 2.0, 3 / 1.5])
    assert np.isinf(dist[:, 3]).all()
    np.testing.assert_allclose(dist[0, :3], [3.0, np.hypot(9, 1), np.hypot(1, 7)])


def test_cosine_novelty_uses_unit_vectors() -> None:
    gallery = np.array([[1, 0], [3, 0.0], [0, 2], [0, 5.0]])
    protos, spreads = class_prototypes(gallery, np.array([0, 0, 1, 1]), 2, metric="cosine")
    np.testing.assert_allclose(protos, [[1, 0], [0, 1]])
    # Identical directions: zero spread, floored so that novelty stays finite.
    assert (spreads > 0).all() and (spreads <= 1e-12).all()
    novelty, nearest, _ = novelty_scores(
        np.array([[5.0, 5.0]]), protos, np.array([0.5, 0.5]), metric="cosine"
    )
    assert nearest.tolist() == [0]
    assert novelty[0] == pytest.approx((1 - np.cos(np.pi / 4)) / 0.5)
