"""Species anchors, preprocessing and controls against loop oracles and the real anchor geometry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from visgen.genetics.anchors import (
    _summed_distances,
    anchor_geometry,
    control_anchors,
    preprocess_anchors,
    species_anchors,
)


def _toy() -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(9, 5)), ["b", "a", "b", "c", "a", "b", "c", "c", "b"]


def _cos(x: np.ndarray) -> np.ndarray:
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    return unit @ unit.T


@pytest.mark.parametrize("statistic", ["mean", "median", "medoid"])
def test_statistics_against_loop_oracle(statistic: str) -> None:
    emb, species = _toy()
    names, anchors = species_anchors(emb, species, statistic)
    assert names == ["a", "b", "c"]
    for name, anchor in zip(names, anchors, strict=True):
        rows = [e for e, s in zip(emb, species, strict=True) if s == name]
        if statistic == "mean":
            expected = sum(rows) / len(rows)
        elif statistic == "median":
            expected = np.array([sorted(col)[len(col) // 2] if len(col) % 2 else
                                 (sorted(col)[len(col) // 2 - 1] + sorted(col)[len(col) // 2]) / 2
                                 for col in zip(*rows, strict=True)])  # fmt: skip
        else:
            costs = [sum(float(np.sqrt(((r - o) ** 2).sum())) for o in rows) for r in rows]
            expected = rows[costs.index(min(costs))]
        np.testing.assert_allclose(anchor, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("budget", [1, 37, 1 << 22])
def test_medoid_distances_in_blocks_equal_the_pairwise_loop(budget: int) -> None:
    rows = np.random.default_rng(3).normal(size=(23, 6))
    loop = [sum(float(np.sqrt(((r - o) ** 2).sum())) for o in rows) for r in rows]
    np.testing.assert_allclose(_summed_distances(rows, budget), loop, rtol=1e-12)


def test_medoid_distances_of_duplicated_rows_stay_near_zero_and_never_negative() -> None:
    # 256-d SGT-like rows in [0, 1], each twice: the Gram form's cancellation must not turn 0 into NaN or move the
    # medoid off the member whose summed distance the loop finds smallest.
    rows = np.random.default_rng(4).random((40, 256))
    rows = np.concatenate([rows, rows])
    loop = np.array([sum(float(np.sqrt(((r - o) ** 2).sum())) for o in rows) for r in rows])
    got = _summed_distances(rows, 1 << 10)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, loop, rtol=1e-9)
    assert np.allclose(rows[int(np.argmin(got))], rows[int(np.argmin(loop))])


def test_bad_statistic_and_length() -> None:
    emb, species = _toy()
    with pytest.raises(ValueError, match="statistic"):
        species_anchors(emb, species, "mode")
    with pytest.raises(ValueError, match="species names"):
        species_anchors(emb, species[:-1])


def test_centred_and_whitened() -> None:
    anchors = np.random.default_rng(1).normal(size=(6, 20)) + 3.0
    np.testing.assert_array_equal(preprocess_anchors(anchors, "raw"), anchors)
    centred = preprocess_anchors(anchors, "centred")
    np.testing.assert_allclose(centred, anchors - anchors.mean(axis=0), atol=1e-12)
    white = preprocess_anchors(anchors, "whitened")
    assert white.shape == anchors.shape
    # 6 anchors span 5 centred dimensions: whitened they are a regular simplex, cos = -1/(S-1) = -0.2
    off = _cos(white)[np.triu_indices(6, k=1)]
    np.testing.assert_allclose(off, -0.2, atol=1e-10)
    # ... with unit variance along each of the 5 directions of their span
    np.testing.assert_allclose(np.linalg.svd(white, compute_uv=False)[:5] ** 2 / 5, 1.0, atol=1e-10)
    with pytest.raises(ValueError, match="anchor mode"):
        preprocess_anchors(anchors, "standardised")


def test_shuffled_control_keeps_geometry_and_moves_every_species() -> None:
    anchors = np.random.default_rng(2).normal(size=(8, 4))
    for seed in range(20):
        shuffled = control_anchors(anchors, "shuffled", seed)
        perm = [int(np.flatnonzero((anchors == row).all(axis=1))[0]) for row in shuffled]
        assert sorted(perm) == list(range(8)) and all(p != k for k, p in enumerate(perm))
    np.testing.assert_array_equal(
        control_anchors(anchors, "shuffled", 3), control_anchors(anchors, "shuffled", 3)
    )
    np.testing.assert_array_equal(control_anchors(anchors, "none", 3), anchors)


def test_random_control_has_the_anchors_mean_and_covariance() -> None:
    anchors = np.random.default_rng(3).normal(size=(5, 3)) * [1.0, 2.0, 0.5] + [4.0, -1.0, 0.0]
    draws = np.concatenate([control_anchors(anchors, "random", seed) for seed in range(4000)])
    # 20,000 draws: sample moments within a few standard errors of the anchors' own.
    np.testing.assert_allclose(draws.mean(axis=0), anchors.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(np.cov(draws.T), np.cov(anchors.T), atol=0.1)
    assert not np.allclose(control_anchors(anchors, "random", 0), control_anchors(anchors, "random", 1))
    with pytest.raises(ValueError, match="control"):
        control_anchors(anchors, "permuted")


def test_geometry_summary() -> None:
    anchors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    geo = anchor_geometry(anchors)
    assert geo["cos_min"] == pytest.approx(0.0)
    assert geo["cos_median"] == pytest.approx(np.sqrt(0.5))
    assert geo["cos_max"] == pytest.approx(np.sqrt(0.5))
    assert geo["rank"] == 2


def test_real_anchor_geometry(oracle: pd.DataFrame, oracle_embeddings: np.ndarray) -> None:
    """The measured facts: raw anchors nearly parallel; centring spreads them around zero."""
    _, anchors = species_anchors(oracle_embeddings, oracle["class_32"].tolist())
    raw = anchor_geometry(anchors)
    assert 0.93 < raw["cos_min"] < 0.95 and raw["cos_max"] > 0.999 and raw["rank"] == 31
    centred = anchor_geometry(preprocess_anchors(anchors, "centred"))
    assert -0.06 < centred["cos_median"] < -0.02
    white = anchor_geometry(preprocess_anchors(anchors, "whitened"))
    assert white["cos_min"] == pytest.approx(-1 / 31) and white["cos_max"] == pytest.approx(-1 / 31)
