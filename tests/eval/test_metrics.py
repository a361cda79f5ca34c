"""knn_metrics and per_species_table on a case computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from visgen.eval.metrics import knn_metrics, per_species_table

# 4 classes; class 3 has no query. Per-class accuracy: c0 = 2/3, c1 = 1/2, c2 = 0.
LABELS = np.array([0, 0, 0, 1, 1, 2])
PRED = np.array([0, 0, 1, 1, 0, 0])
NEIGHBOURS = np.array(
    [
        [0, 0, 1],  # true 0 present
        [0, 1, 1],  # present
        [1, 1, 2],  # absent
        [1, 0, 0],  # present
        [0, 0, 2],  # absent
        [0, 0, 2],  # present (last column)
    ]
)
BUCKETS = ["many", "few", "few", "medium"]


def test_hand_computed_metrics() -> None:
    m = knn_metrics(PRED, LABELS, NEIGHBOURS, num_classes=4, rare_classes={1, 2, 3}, buckets=BUCKETS)
    assert m["acc"] == pytest.approx(3 / 6)
    assert m["per_class_acc"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)  # class 3 has no query: not averaged
    assert m["rare_acc"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["many_acc"] == pytest.approx(2 / 3)
    assert m["few_acc"] == pytest.approx(1 / 4)
    assert math.isnan(m["medium_acc"])  # the only medium class has no query
    assert m["top3_acc"] == pytest.approx(4 / 6)
    assert set(m) == {"acc", "per_class_acc", "rare_acc", "many_acc", "medium_acc", "few_acc", "top3_acc"}


def test_without_groupings_the_group_metrics_are_nan() -> None:
    m = knn_metrics(PRED, LABELS, NEIGHBOURS, num_classes=4)
    assert all(math.isnan(m[k]) for k in ("rare_acc", "many_acc", "medium_acc", "few_acc"))
    assert m["acc"] == pytest.approx(0.5)


def test_bucket_count_must_match_classes() -> None:
    with pytest.raises(ValueError, match="buckets"):
        knn_metrics(PRED, LABELS, NEIGHBOURS, num_classes=4, buckets=["many"])


def test_per_species_table() -> None:
    rows = per_species_table(
        PRED,
        LABELS,
        class_names=["A_a", "B_b", "C_c", "D_d"],
        n_train=[50, 8, 9, 30],
        rare_classes=[1, 2, 3],
        buckets=BUCKETS,
    )
    assert rows[0] == {
        "species": "A_a",
        "n_train": 50,
        "bucket": "many",
        "rare": False,
        "n_test": 3,
        "acc": pytest.approx(2 / 3),
    }
    assert rows[1]["acc"] == pytest.approx(0.5) and rows[1]["rare"] is True
    assert rows[2]["acc"] == 0.0
    assert rows[3] == {
        "species": "D_d",
        "n_train": 30,
        "bucket": "medium",
        "rare": True,
        "n_test": 0,
        "acc": None,
    }
