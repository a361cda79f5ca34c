"""ContrastiveLoss against a loop-written InfoNCE, its temperature clamp, and 2 CPU ranks == one process."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from hypothesis import given, settings
from hypothesis import strategies as st

from visgen.errors import UserInputError
from visgen.losses.contrastive import ContrastiveLoss, scale_grad


def reference(image: torch.Tensor, dna: torch.Tensor, labels: list[int], scale: float) -> tuple[float, float]:
    """(image→DNA, DNA→image): mean over rows of −log softmax at the partner, same-species others left out."""

    def unit(x: torch.Tensor) -> list[list[float]]:
        return [[v / math.sqrt(sum(w * w for w in row)) for v in row] for row in x.double().tolist()]

    u, v = unit(image), unit(dna)

    def direction(a: list[list[float]], b: list[list[float]]) -> float:
        total = 0.0
        for i in range(len(a)):
            denominator = 0.0
            for j in range(len(b)):
                if j == i or labels[j] != labels[i]:
                    denominator += math.exp(scale * sum(x * y for x, y in zip(a[i], b[j], strict=True)))
            positive = scale * sum(x * y for x, y in zip(a[i], b[i], strict=True))
            total += -(positive - math.log(denominator))
        return total / len(a)

    return direction(u, v), direction(v, u)


@settings(max_examples=25, deadline=None)
@given(
    labels=st.lists(st.integers(0, 3), min_size=1, max_size=9),
    seed=st.integers(0, 10_000),
    temperature=st.sampled_from([0.07, 0.5, 1.0]),
)
def test_matches_loop_reference(labels: list[int], seed: int, temperature: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    image, dna = torch.randn(len(labels), 5, generator=gen) * 3, torch.randn(len(labels), 5, generator=gen)
    terms = ContrastiveLoss(init_temperature=temperature, gather=False)(image, dna, torch.tensor(labels))
    i2d, d2i = reference(image, dna, labels, 1.0 / temperature)
    assert terms["image_to_dna"].item() == pytest.approx(i2d, rel=1e-4, abs=1e-5)
    assert terms["dna_to_image"].item() == pytest.approx(d2i, rel=1e-4, abs=1e-5)
    assert terms["loss"].item() == pytest.approx((i2d + d2i) / 2, rel=1e-4, abs=1e-5)
    assert terms["logit_scale"].item() == pytest.approx(1.0 / temperature, rel=1e-5)


def test_a_species_alone_with_its_partner_costs_nothing_whatever_the_features() -> None:
    # Every other column is the same species: no negatives are left, so the softmax is over one column.
    image, dna = torch.randn(4, 8), torch.randn(4, 8)
    terms = ContrastiveLoss(gather=False)(image, dna, torch.zeros(4, dtype=torch.long))
    assert terms["loss"].item() == pytest.approx(0.0, abs=1e-6)


def test_logit_scale_is_clamped_at_100_and_the_clamp_stops_the_gradient() -> None:
    loss = ContrastiveLoss(gather=False)
    with torch.no_grad():
        loss.log_scale.fill_(10.0)  # exp(10) ≈ 22026 unclamped
    terms = loss(torch.randn(6, 4), torch.randn(6, 4), torch.arange(6))
    assert terms["logit_scale"].item() == pytest.approx(100.0)
    terms["loss"].backward()
    assert loss.log_scale.grad is not None and loss.log_scale.grad.item() == 0.0


@pytest.mark.parametrize("temperature", [0.001, 2.0])
def test_a_temperature_outside_clips_range_is_refused(temperature: float) -> None:
    with pytest.raises(UserInputError, match=r"align\.contrastive\.temperature"):
        ContrastiveLoss(init_temperature=temperature)


def test_scale_grad_keeps_the_value_and_scales_the_gradient() -> None:
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = scale_grad(x, 3)
    assert torch.equal(y, x.detach())
    (y * torch.tensor([5.0, 7.0])).sum().backward()
    assert torch.equal(x.grad, torch.tensor([15.0, 21.0]))


# 8 rows over two ranks (4 + 4 or 5 + 3); same-species pairs straddle the ranks (labels 0 and 1), so the mask must act globally.
LABELS = torch.tensor([0, 1, 2, 1, 3, 1, 4, 0])
WORLD = 2


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.nn.Linear]:
    """The global batch and a shared linear 'tower' on its features (same on every rank, as DDP keeps it)."""
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    return torch.randn(8, 6, generator=gen), torch.randn(8, 6, generator=gen), torch.nn.Linear(6, 6)


def _step(image: torch.Tensor, dna: torch.Tensor, labels: torch.Tensor, gather: bool, ranks: int) -> dict:
    """Loss, the grads w.r.t. the loss's (local) inputs, and the tower's and temperature's grads of one step.

    The image side runs through the tower and ``scale_grad`` as in ``ContrastiveAlignModule``; the DNA side
    is a leaf, fed to the loss directly.
    """
    _, _, tower = _batch()
    dna = dna.clone().requires_grad_(True)
    loss = ContrastiveLoss(init_temperature=0.2, gather=gather)
    features = scale_grad(tower(image), ranks)
    features.retain_grad()
    terms = loss(features, dna, labels)
    terms["loss"].backward()
    return {
        "loss": terms["loss"].detach(),
        "image_grad": features.grad,
        "dna_grad": dna.grad,
        "tower_grad": tower.weight.grad,
        "scale_grad": loss.log_scale.grad,
    }


def _rank(rank: int, store: str, out: str, first: int) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    image, dna, _ = _batch()
    rows = slice(0, first) if rank == 0 else slice(first, len(LABELS))
    result = _step(image[rows], dna[rows], LABELS[rows], gather=True, ranks=WORLD)
    # What DDP does to replicated parameters' gradients: average them over the ranks.
    for key in ("tower_grad", "scale_grad"):
        dist.all_reduce(result[key])
        result[key] /= WORLD
    torch.save(result, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
@pytest.mark.parametrize("first", [4, 5])  # equal shards, and a smaller last batch on rank 1
def test_two_ranks_gathering_negatives_equal_one_process_on_the_whole_batch(
    tmp_path: Path, fork_safe_threads: None, first: int
) -> None:
    mp.start_processes(
        _rank,
        args=(str(tmp_path / "store"), str(tmp_path), first),
        nprocs=WORLD,
        start_method="fork",
        join=True,
    )
    image, dna, _ = _batch()
    single = _step(image, dna, LABELS, gather=False, ranks=1)
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        rows = slice(0, first) if rank == 0 else slice(first, len(LABELS))
        torch.testing.assert_close(got["loss"], single["loss"])
        torch.testing.assert_close(got["image_grad"], single["image_grad"][rows])
        torch.testing.assert_close(got["dna_grad"], single["dna_grad"][rows])
        torch.testing.assert_close(got["tower_grad"], single["tower_grad"])
        torch.testing.assert_close(got["scale_grad"], single["scale_grad"])
    # Without the gather each rank would see only its own 4 columns: a different (smaller) loss.
    local = _step(image[:4], dna[:4], LABELS[:4], gather=False, ranks=1)
    assert not torch.allclose(local["loss"], single["loss"])
