"""The authors' alignment batches: every image once as a positive, negatives of a uniformly random other class."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from visgen.data.samplers import InstanceNegativeBatchSampler, other_classes
from visgen.errors import UserInputError
from visgen.losses.align import CosineAlignLoss

# A long tail: class 0 has 300 images, class 5 has 2.
COUNTS = [300, 120, 40, 10, 4, 2]
LABELS = np.repeat(np.arange(len(COUNTS)), COUNTS)


def _tolerance(p: float, n: int, z: float = 4.5) -> float:
    """z binomial standard errors of a frequency with probability p over n draws (z = 4.5: ~7e-6 two-sided)."""
    return z * math.sqrt(p * (1 - p) / n)


def test_other_classes_never_returns_the_class_and_is_uniform_over_the_rest() -> None:
    rng = np.random.default_rng(0)
    c, n = 6, 60_000
    own = np.full(n, 2)
    drawn = other_classes(own, c, rng)
    assert not (drawn == own).any()
    freq = np.bincount(drawn, minlength=c) / n
    p = 1 / (c - 1)
    for cls in (0, 1, 3, 4, 5):
        assert abs(freq[cls] - p) < _tolerance(p, n), (cls, freq[cls])


def test_every_image_is_a_positive_once_per_epoch_and_batches_pair_up() -> None:
    sampler = InstanceNegativeBatchSampler(LABELS, batch_size=16, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == len(LABELS) // 8
    positives = np.concatenate([b[:8] for b in batches])
    assert len(positives) == len(set(positives.tolist()))  # no image twice as a positive
    for batch in batches:
        assert len(batch) == 16
        pos, neg = np.asarray(batch[:8]), np.asarray(batch[8:])
        assert not (LABELS[pos] == LABELS[neg]).any()


def test_negative_classes_are_uniform_over_the_other_classes_not_the_long_tail() -> None:
    # Positives follow the long tail (class 0 = 63 % of images); each positive's negative class must not.
    sampler = InstanceNegativeBatchSampler(LABELS, batch_size=32, length=len(LABELS) * 40, seed=1)
    pairs: Counter[tuple[int, int]] = Counter()
    for batch in sampler:
        pos, neg = LABELS[batch[:16]], LABELS[batch[16:]]
        pairs.update(zip(pos.tolist(), neg.tolist(), strict=True))
    c = len(COUNTS)
    p = 1 / (c - 1)
    for own in (0, 1):  # the classes with enough positives for a tight frequency
        n = sum(v for (y, _), v in pairs.items() if y == own)
        for other in range(c):
            if other == own:
                assert pairs[(own, own)] == 0
                continue
            freq = pairs[(own, other)] / n
            assert abs(freq - p) < _tolerance(p, n), (own, other, freq, n)


def test_images_within_the_negative_class_are_uniform() -> None:
    sampler = InstanceNegativeBatchSampler(LABELS, batch_size=32, length=len(LABELS) * 40, seed=2)
    seen: Counter[int] = Counter()
    for batch in sampler:
        seen.update(i for i in batch[16:] if LABELS[i] == 3)  # class 3: 10 images
    members = np.flatnonzero(LABELS == 3)
    n = sum(seen.values())
    p = 1 / len(members)
    assert set(seen) == set(members.tolist())
    for i in members:
        assert abs(seen[i] / n - p) < _tolerance(p, n)


def test_sampler_is_deterministic_per_seed_and_epoch_and_splits_ranks() -> None:
    a = list(InstanceNegativeBatchSampler(LABELS, batch_size=8, seed=5))
    assert a == list(InstanceNegativeBatchSampler(LABELS, batch_size=8, seed=5))
    other = InstanceNegativeBatchSampler(LABELS, batch_size=8, seed=5)
    other.set_epoch(1)
    assert list(other) != a
    ranks = [
        list(InstanceNegativeBatchSampler(LABELS, batch_size=8, seed=5, rank=r, world_size=2)) for r in (0, 1)
    ]
    merged = [b for pair in zip(*ranks, strict=True) for b in pair]
    assert merged == a[: len(merged)]


def test_odd_batch_size_is_refused() -> None:
    with pytest.raises(UserInputError, match="needs an even batch size"):
        InstanceNegativeBatchSampler(LABELS, batch_size=7)


def test_paired_loss_equals_eq1_written_out() -> None:
    g = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    pos = torch.tensor([[2.0, 0.0], [1.0, 1.0]])  # cos with own anchor: 1, 1/sqrt2
    neg = torch.tensor([[1.0, 1.0], [0.0, -3.0]])  # cos with the positive's anchor: 1/sqrt2, -1
    labels = torch.tensor([0, 1])
    out = CosineAlignLoss(margin=0.5).pairs(pos, neg, labels, g)
    r = 1 / math.sqrt(2)
    expected_pos = ((1 - 1) + (1 - r)) / 2
    expected_neg = (max(0.0, r - 0.5) + max(0.0, -1 - 0.5)) / 2
    assert out["pos"].item() == pytest.approx(expected_pos, abs=1e-6)
    assert out["neg"].item() == pytest.approx(expected_neg, abs=1e-6)
    assert out["loss"].item() == pytest.approx(expected_pos + expected_neg, abs=1e-6)
