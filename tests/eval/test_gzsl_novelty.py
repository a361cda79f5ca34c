"""The novelty AUROC of species outside seen and unseen, on a hand-computed 1-D case."""

from __future__ import annotations

import numpy as np
import pytest

from visgen.eval.gzsl_novelty import novelty_metrics


def test_novel_images_are_ranked_against_the_seen_test_images_only() -> None:
    # Seen class 0: training at 0 and 2 (mean 1, RMS spread 1); class 1: at 10 and 14 (mean 12, spread 2).
    train_e, train_y = np.array([[0.0], [2.0], [10.0], [14.0]]), np.array([0, 0, 1, 1])
    # Seen test rows score min(|x - 1| / 1, |x - 12| / 2): 1 -> 0, 13 -> 0.5; the target row (class 5) is left out.
    test_e, test_y = np.array([[1.0], [13.0], [40.0]]), np.array([0, 1, 5])
    # Novel rows: 5 -> min(4, 3.5) = 3.5; 12 -> min(11, 0) = 0.
    novel_e = np.array([[5.0], [12.0]])
    got = novelty_metrics(train_e, train_y, [0, 1], test_e, test_y, novel_e)
    # Pairs (novel, seen): 3.5 > 0, 3.5 > 0.5, 0 = 0 (half), 0 < 0.5 -> 2.5 / 4.
    assert got["auroc"] == pytest.approx(0.625)
    assert (got["n_seen"], got["n_novel"]) == (2, 2)
    assert got["seen_median"] == pytest.approx(0.25) and got["novel_median"] == pytest.approx(1.75)


def test_without_novel_images_there_is_nothing_to_report() -> None:
    x, y = np.array([[0.0], [2.0]]), np.array([0, 0])
    assert novelty_metrics(x, y, [0], x, y, np.zeros((0, 1))) == {}
