"""TL / RTL with batch-hard mining against a loop-written reference (values and gradients)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visgen.errors import UserInputError
from visgen.losses.triplet import RECIPROCAL_EPS, TripletLoss


def reference(
    emb: torch.Tensor, labels: list[int], margin: float, reciprocal: bool, distance: str
) -> tuple[torch.Tensor, int]:
    """Batch-hard (R)TL written as plain loops over anchors, positives and negatives."""

    def d(i: int, j: int) -> torch.Tensor:
        if distance == "euclidean":
            return torch.sqrt(((emb[i] - emb[j]) ** 2).sum())
        return 1 - (emb[i] @ emb[j]) / (emb[i].norm() * emb[j].norm())

    terms = []
    for i in range(len(labels)):
        pos = [d(i, j) for j in range(len(labels)) if j != i and labels[j] == labels[i]]
        neg = [d(i, j) for j in range(len(labels)) if labels[j] != labels[i]]
        if not pos or not neg:
            continue
        d_ap, d_an = max(pos), min(neg)
        terms.append(
            d_ap + 1 / (d_an + RECIPROCAL_EPS) if reciprocal else torch.clamp(d_ap - d_an + margin, min=0)
        )
    return torch.stack(terms).mean(), len(terms)


@settings(max_examples=30, deadline=None)
@given(
    labels=st.lists(st.integers(0, 3), min_size=4, max_size=12),
    seed=st.integers(0, 10_000),
    reciprocal=st.booleans(),
    distance=st.sampled_from(["euclidean", "cosine"]),
)
def test_matches_loop_reference(labels: list[int], seed: int, reciprocal: bool, distance: str) -> None:
    if len(set(labels)) < 2 or all(labels.count(c) == 1 for c in labels):
        return  # no anchor has both a positive and a negative; covered by test_no_valid_triplet
    torch.manual_seed(seed)
    emb = torch.randn(len(labels), 5, requires_grad=True)
    ref_emb = emb.detach().clone().requires_grad_(True)
    # margin 1.0 keeps many TL hinges active so the gradients compared below are not all zero.
    out = TripletLoss(margin=1.0, reciprocal=reciprocal, distance=distance)(emb, torch.tensor(labels))
    ref, n = reference(ref_emb, labels, 1.0, reciprocal, distance)
    assert int(out["n_triplets"]) == n
    torch.testing.assert_close(out["loss"], ref, rtol=1e-5, atol=1e-5)
    out["loss"].backward()
    ref.backward()
    torch.testing.assert_close(emb.grad, ref_emb.grad, rtol=1e-4, atol=1e-5)


def test_known_value() -> None:
    # 1-D points: class 0 at 0 and 1, class 1 at 3. Anchor 0: d_ap=1, d_an=3; anchor 1: d_ap=1, d_an=2;
    # anchor 2 has no positive. TL(m=0.2) = mean(max(0,1-3+.2), max(0,1-2+.2)) = 0. RTL = mean(1+1/3, 1+1/2).
    emb = torch.tensor([[0.0], [1.0], [3.0]])
    labels = torch.tensor([0, 0, 1])
    assert float(TripletLoss(margin=0.2)(emb, labels)["loss"]) == pytest.approx(0.0)
    assert float(TripletLoss(margin=2.0)(emb, labels)["loss"]) == pytest.approx((0.0 + 1.0) / 2)
    rtl = TripletLoss(reciprocal=True)(emb, labels)
    assert float(rtl["loss"]) == pytest.approx((1 + 1 / 3 + 1 + 1 / 2) / 2, rel=1e-5)
    assert int(rtl["n_triplets"]) == 2


def test_no_valid_triplet_gives_zero_with_graph() -> None:
    emb = torch.randn(4, 3, requires_grad=True)
    out = TripletLoss()(emb, torch.zeros(4, dtype=torch.long))
    assert float(out["loss"].detach()) == 0.0 and int(out["n_triplets"]) == 0
    out["loss"].backward()
    assert torch.equal(emb.grad, torch.zeros_like(emb))


def test_bf16_input_is_computed_in_float32() -> None:
    emb = torch.randn(6, 4)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = TripletLoss(reciprocal=True)
    assert loss(emb.bfloat16(), labels)["loss"].dtype == torch.float32


def test_unknown_distance_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match="distance"):
        TripletLoss(distance="manhattan")  # type: ignore[arg-type]
