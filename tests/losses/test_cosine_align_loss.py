"""CosineAlignLoss against a loop reference, and ≈ 0 at the optimum the paper describes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visgen.losses.align import CosineAlignLoss


def reference(
    emb: torch.Tensor, labels: list[int], anchors: torch.Tensor, m: float, negatives: str
) -> torch.Tensor:
    """L = mean_i(1 − cos(g_yi, f_i)) + mean over i with negatives of agg_j max(0, cos(g_yi, f_j) − m)."""

    def cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a @ b) / (a.norm() * b.norm())

    pos = torch.stack([1 - cos(anchors[y], emb[i]) for i, y in enumerate(labels)]).mean()
    per_sample = []
    for y in labels:
        hinges = [torch.clamp(cos(anchors[y], emb[j]) - m, min=0) for j, yj in enumerate(labels) if yj != y]
        if hinges:
            stacked = torch.stack(hinges)
            per_sample.append(stacked.mean() if negatives == "all" else stacked.max())
    neg = torch.stack(per_sample).mean() if per_sample else torch.tensor(0.0)
    return pos + neg


@settings(max_examples=30, deadline=None)
@given(
    labels=st.lists(st.integers(0, 3), min_size=1, max_size=10),
    seed=st.integers(0, 10_000),
    margin=st.sampled_from([-0.5, 0.0, 0.5]),
    negatives=st.sampled_from(["all", "hardest"]),
)
def test_matches_loop_reference(labels: list[int], seed: int, margin: float, negatives: str) -> None:
    torch.manual_seed(seed)
    emb = torch.randn(len(labels), 6, requires_grad=True)
    anchors = torch.randn(4, 6)
    ref_emb = emb.detach().clone().requires_grad_(True)
    out = CosineAlignLoss(margin=margin, negatives=negatives)(emb, torch.tensor(labels), anchors)  # type: ignore[arg-type]
    ref = reference(ref_emb, labels, anchors, margin, negatives)
    torch.testing.assert_close(out["loss"], ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out["pos"] + out["neg"], out["loss"])
    out["loss"].backward()
    ref.backward()
    torch.testing.assert_close(emb.grad, ref_emb.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("negatives", ["all", "hardest"])
def test_zero_when_embeddings_equal_orthogonal_anchors(negatives: str) -> None:
    anchors = torch.eye(5, 16) * 3.0  # orthogonal: cross-species cosine 0 < m
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 2])
    out = CosineAlignLoss(margin=0.5, negatives=negatives)(anchors[labels] * 2.0, labels, anchors)  # type: ignore[arg-type]
    assert float(out["loss"]) == pytest.approx(0.0, abs=1e-6)


def test_collinear_anchors_keep_the_negative_term_active() -> None:
    # Anchors at 60 degrees (cos 0.5 + 0.3 = 0.8 > m): embedding == own anchor, neg hinge = 0.8 − 0.5.
    anchors = torch.tensor([[1.0, 0.0], [0.8, 0.6]])
    labels = torch.tensor([0, 1])
    out = CosineAlignLoss(margin=0.5)(anchors[labels], labels, anchors)
    assert float(out["pos"]) == pytest.approx(0.0, abs=1e-6)
    assert float(out["neg"]) == pytest.approx(0.3, abs=1e-6)


def reference_with_image_only(
    emb: torch.Tensor, labels: list[int], anchors: torch.Tensor, m: float, negatives: str
) -> torch.Tensor:
    """Loop reference when some species have no anchor (NaN row): only samples with an anchor are anchors
    of the loss terms; every other-species sample (with or without DNA) is a negative."""

    def cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a @ b) / (a.norm() * b.norm())

    own = [i for i, y in enumerate(labels) if not torch.isnan(anchors[y]).any()]
    pos = torch.stack([1 - cos(anchors[labels[i]], emb[i]) for i in own]).mean()
    per_sample = []
    for i in own:
        y = labels[i]
        hinges = [torch.clamp(cos(anchors[y], emb[j]) - m, min=0) for j, yj in enumerate(labels) if yj != y]
        if hinges:
            stacked = torch.stack(hinges)
            per_sample.append(stacked.mean() if negatives == "all" else stacked.max())
    neg = torch.stack(per_sample).mean() if per_sample else torch.tensor(0.0)
    return pos + neg


@settings(max_examples=30, deadline=None)
@given(
    labels=st.lists(st.integers(0, 3), min_size=2, max_size=10).filter(lambda ls: any(y < 2 for y in ls)),
    seed=st.integers(0, 10_000),
    negatives=st.sampled_from(["all", "hardest"]),
)
def test_species_without_dna_are_negatives_only(labels: list[int], seed: int, negatives: str) -> None:
    torch.manual_seed(seed)
    emb = torch.randn(len(labels), 6, requires_grad=True)
    anchors = torch.randn(4, 6)
    anchors[2:] = float("nan")  # species 2 and 3 are image-only (data.classes=all)
    ref_emb = emb.detach().clone().requires_grad_(True)
    out = CosineAlignLoss(margin=0.2, negatives=negatives)(emb, torch.tensor(labels), anchors)  # type: ignore[arg-type]
    ref = reference_with_image_only(ref_emb, labels, anchors, 0.2, negatives)
    torch.testing.assert_close(out["loss"], ref, rtol=1e-5, atol=1e-6)
    out["loss"].backward()
    ref.backward()
    assert torch.isfinite(emb.grad).all()
    torch.testing.assert_close(emb.grad, ref_emb.grad, rtol=1e-4, atol=1e-6)


def test_a_batch_of_image_only_species_costs_nothing() -> None:
    anchors = torch.full((3, 4), float("nan"))
    anchors[0] = 1.0
    out = CosineAlignLoss()(torch.randn(4, 4), torch.tensor([1, 2, 1, 2]), anchors)
    assert float(out["loss"]) == 0.0
