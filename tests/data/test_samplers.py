"""Sampler statistics: class structure of every batch, balance, determinism, DDP rank split."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from visgen.data.samplers import MPerClassBatchSampler, RandomBatchSampler
from visgen.errors import UserInputError

# A long tail: class 0 has 500 images, class 9 has 2 (fewer than m).
COUNTS = [500, 200, 120, 60, 40, 20, 10, 5, 3, 2]
LABELS = np.repeat(np.arange(len(COUNTS)), COUNTS)


def test_every_batch_has_k_classes_with_m_each() -> None:
    sampler = MPerClassBatchSampler(LABELS, m=4, batch_size=16, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == len(LABELS) // 16
    for batch in batches:
        assert len(batch) == 16
        per_class = Counter(LABELS[batch].tolist())
        assert len(per_class) == 4 and set(per_class.values()) == {4}
        for cls in per_class:  # classes with >= m images never repeat an image within the batch
            members = [i for i in batch if LABELS[i] == cls]
            if COUNTS[cls] >= 4:
                assert len(set(members)) == 4


def test_classes_are_balanced_and_rare_classes_appear() -> None:
    sampler = MPerClassBatchSampler(LABELS, m=4, batch_size=20, length=20 * 100, seed=1)
    seen = Counter()
    for batch in sampler:
        seen.update(set(LABELS[batch].tolist()))
    # 100 batches x 5 classes = 500 class slots over 10 classes: each class gets 50, give or take
    # the straddle of a reshuffled round.
    assert sorted(seen) == list(range(10))
    assert max(seen.values()) - min(seen.values()) <= 2
    # Under uniform sampling class 9 (2 of 960 images) would be almost absent; here it is everywhere.
    assert seen[9] >= 48


def test_small_class_is_drawn_with_replacement() -> None:
    sampler = MPerClassBatchSampler(LABELS, m=4, batch_size=40, length=400, seed=0)
    rows = [i for batch in sampler for i in batch if LABELS[i] == 9]
    assert set(rows) == set(np.flatnonzero(LABELS == 9).tolist())


def test_seed_and_epoch_determinism() -> None:
    a = MPerClassBatchSampler(LABELS, 4, 16, seed=5)
    b = MPerClassBatchSampler(LABELS, 4, 16, seed=5)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    a.set_epoch(0)
    assert list(a) == first


@pytest.mark.parametrize("cls", [MPerClassBatchSampler, RandomBatchSampler])
def test_ranks_split_the_same_global_sequence(cls: type) -> None:
    def make(rank: int, world: int):
        if cls is MPerClassBatchSampler:
            return cls(LABELS, 4, 16, seed=2, rank=rank, world_size=world)
        return cls(len(LABELS), 16, seed=2, rank=rank, world_size=world)

    single = list(make(0, 1))
    r0, r1 = list(make(0, 2)), list(make(1, 2))
    assert len(r0) == len(r1) == len(single) // 2
    assert r0 == single[0 : 2 * len(r0) : 2] and r1 == single[1 : 2 * len(r1) : 2]


def test_random_batches_are_a_permutation_per_epoch() -> None:
    sampler = RandomBatchSampler(100, batch_size=10, seed=0)
    flat = [i for batch in sampler for i in batch]
    assert sorted(flat) == list(range(100))
    sampler.set_epoch(1)
    assert [i for batch in sampler for i in batch] != flat


def test_configuration_errors_are_user_errors() -> None:
    with pytest.raises(UserInputError, match=r"multiple of data\.m_per_class"):
        MPerClassBatchSampler(LABELS, 3, 16)
    with pytest.raises(UserInputError, match="raise m_per_class to 4"):
        MPerClassBatchSampler(LABELS, 2, 40)  # 20 classes per batch, only 10 exist
    with pytest.raises(UserInputError, match="no full batch"):
        RandomBatchSampler(10, 16)


def test_every_class_in_every_batch_when_k_equals_the_class_count() -> None:
    # The paper profile: batch 256, m 8 -> 32 classes per batch out of 32.
    sampler = MPerClassBatchSampler(LABELS, m=8, batch_size=80, length=80 * 30, seed=4)
    for batch in sampler:
        assert sorted(Counter(LABELS[batch].tolist()).items()) == [(c, 8) for c in range(10)]
