"""Scoring one cell: identity permutation = observed, seeded permutations reproduce, a linear world is solved,
the per-class alignment loss equals the paper's pairwise one, and heads fitted in a batch are heads fitted alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visgen.eval import align_head
from visgen.eval.align_head import class_align_loss, fit_align_head, fit_align_heads
from visgen.eval.gzsl_score import (
    CellFeatures,
    HeadSettings,
    p_value,
    permutation_null,
    permutations,
    score,
)
from visgen.losses.align import CosineAlignLoss

C, TARGETS = 10, [2, 5, 7]
HEAD = HeadSettings(steps=10, lr=0.01, margin=0.5, per_class=8)


def _cell(seed: int = 0, noise: float = 0.3) -> tuple[CellFeatures, np.ndarray]:
    """Class means that are a linear function of the anchors: the DNA fully determines the prototype."""
    rng = np.random.default_rng(seed)
    anchors = rng.normal(size=(C, 6))
    means = anchors @ rng.normal(size=(6, 12))

    def draw(n: int, classes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(classes, n)
        return means[y] + noise * rng.normal(size=(len(y), 12)), y

    seen = [c for c in range(C) if c not in TARGETS]
    tx, ty = draw(10, seen)
    vx, vy = draw(6, list(range(C)))
    sx, sy = draw(4, TARGETS)
    return CellFeatures(tx, tx, ty, vx, vx, vy, sx, sx, sy, seen, TARGETS, C), anchors


@pytest.mark.parametrize("method", ["ridge", "aligned"])
def test_the_identity_permutation_reproduces_the_observed_value(method: str) -> None:
    cell, anchors = _cell()
    observed = score(cell, anchors, method, [0], HEAD, seed=3)[0]
    null = permutation_null(cell, anchors, method, np.arange(C)[None, :], HEAD, seed=3)
    for key in ("zsl_top1", "unseen_top1", "h"):
        assert null[key][0] == observed[key]


@pytest.mark.parametrize("method", ["ridge", "aligned"])
def test_with_distances_every_k_says_where_the_targets_errors_land(method: str) -> None:
    from dataclasses import replace

    from visgen.eval.mistakes import SpeciesDistances

    cell, anchors = _cell()
    names = [f"Genus{c // 2}_species{c}" for c in range(C)]  # pairs of congeners
    plain = score(cell, anchors, method, [0, 2], HEAD, seed=3)
    scored = score(
        replace(cell, distances=SpeciesDistances.by_taxonomy(names)), anchors, method, [0, 2], HEAD, 3
    )
    for k in (0, 2):
        assert "unseen_genus_acc" not in plain[k]
        assert (
            scored[k]["unseen_genus_acc"] >= scored[k]["unseen_top1"]
        )  # a right species has the right genus
        assert {key: v for key, v in scored[k].items() if not key.startswith("unseen_e") and "genus" not in key
                and key != "unseen_n_errors"} == plain[k]  # fmt: skip


def test_a_cells_permutations_are_reproducible_from_its_seed() -> None:
    cell, anchors = _cell()
    runs = [
        permutation_null(cell, anchors, "ridge", permutations(C, 20, np.random.default_rng([7, 1])), HEAD, 7)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0]["zsl_top1"], runs[1]["zsl_top1"])
    other = permutations(C, 20, np.random.default_rng([8, 1]))
    assert not np.array_equal(other, permutations(C, 20, np.random.default_rng([7, 1])))


def test_ridge_solves_a_world_where_dna_determines_the_prototype_and_shuffling_breaks_it() -> None:
    cell, anchors = _cell(noise=0.05)
    good = score(cell, anchors, "ridge", [0], HEAD, seed=0)[0]
    assert good["zsl_top1"] == 1.0 and good["unseen_top1"] == 1.0
    null = permutation_null(cell, anchors, "ridge", permutations(C, 30, np.random.default_rng(0)), HEAD, 0)
    assert null["zsl_top1"].mean() < 0.7
    assert p_value(good["zsl_top1"], null["zsl_top1"]) < 0.1


def test_support_images_move_a_target_prototype_towards_its_images() -> None:
    cell, anchors = _cell(noise=0.3)
    useless = np.zeros_like(
        anchors
    )  # every target gets the same prior: only support images can separate them
    curve = score(cell, useless + np.eye(C, 6), "ridge", [0, 4], HEAD, seed=0)
    assert curve[4]["zsl_top1"] > curve[0]["zsl_top1"]


def test_p_value_counts_the_observed_value_as_one_of_the_draws() -> None:
    assert p_value(0.5, np.array([0.1, 0.5, 0.7, 0.2])) == pytest.approx(3 / 5)


def test_per_class_alignment_loss_equals_the_pairwise_cosine_align_loss() -> None:
    g = torch.Generator().manual_seed(0)
    emb, anchors = torch.randn(40, 8, generator=g), torch.randn(6, 8, generator=g)
    labels = torch.randint(0, 6, (40,), generator=g)
    expected = CosineAlignLoss(margin=0.2)(emb, labels, anchors)["loss"]
    assert class_align_loss(emb, labels, anchors, 0.2).item() == pytest.approx(expected.item(), rel=1e-6)


def test_the_batched_alignment_loss_is_each_heads_own_loss() -> None:
    g = torch.Generator().manual_seed(1)
    emb, anchors = torch.randn(3, 40, 8, generator=g), torch.randn(3, 6, 8, generator=g)
    labels = torch.randint(0, 6, (40,), generator=g)
    batched = class_align_loss(emb, labels, anchors, 0.2)
    alone = torch.stack([class_align_loss(emb[i], labels, anchors[i], 0.2) for i in range(3)])
    torch.testing.assert_close(batched, alone)


def test_heads_fitted_in_one_batch_are_the_heads_fitted_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cell, anchors = _cell()
    rng = np.random.default_rng(4)
    sets = anchors[np.stack([rng.permutation(C) for _ in range(30)])]
    monkeypatch.setattr(align_head, "STEP_ELEMENTS", len(cell.train_x) * 6 * 7)  # 7 heads a step: 5 steps
    kwargs = dict(steps=20, lr=0.01, margin=0.5, seed=0)
    together = fit_align_heads(cell.train_x, cell.train_y, sets, **kwargs)
    assert len(together) == len(sets)
    for head, one in zip(together, sets, strict=True):
        alone = fit_align_head(cell.train_x, cell.train_y, one, **kwargs)
        np.testing.assert_allclose(head.weight, alone.weight, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(head.bias, alone.bias, rtol=1e-4, atol=1e-5)


def test_the_aligned_null_equals_scoring_each_permutation_alone() -> None:
    cell, anchors = _cell(noise=0.6)
    perms = permutations(C, 12, np.random.default_rng([5, 2]))
    null = permutation_null(cell, anchors, "aligned", perms, HEAD, seed=5)
    for i, perm in enumerate(perms):
        alone = score(cell, anchors[perm], "aligned", [0], HEAD, seed=5)[0]
        for key in ("zsl_top1", "unseen_top1", "h", "ausuc"):
            assert null[key][i] == pytest.approx(alone[key], abs=1e-9), (i, key)
