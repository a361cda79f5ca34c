"""Leave-species-out folds and the held-out split: a partition spread over the tree, seeded, exact drops."""

from __future__ import annotations

import numpy as np
import pytest

from visgen.data.heldout import hold_out, leave_species_out_folds, tail_counts, tree_leaf_order
from visgen.errors import UserInputError
from visgen.genetics.species import known_species

DNA = known_species()[1]


def test_folds_partition_the_anchored_species_into_equal_seeded_groups() -> None:
    folds = leave_species_out_folds(DNA, tail_counts(DNA), 8, seed=0)
    assert sorted(n for f in folds for n in f) == sorted(DNA)
    assert [len(f) for f in folds] == [4] * 8
    assert folds == leave_species_out_folds(DNA, tail_counts(DNA), 8, seed=0)
    assert folds != leave_species_out_folds(DNA, tail_counts(DNA), 8, seed=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_fold_takes_one_species_from_each_run_of_close_relatives(seed: int) -> None:
    """Leaves of the 18S tree cut into 4 runs of 8 neighbours: every fold holds exactly one of each run."""
    folds = leave_species_out_folds(DNA, tail_counts(DNA), 8, seed=seed)
    order = tree_leaf_order(DNA)
    position = {n: i for i, n in enumerate(order)}
    for fold in folds:
        gaps = sorted(position[n] for n in fold)
        # one species per block of 8 consecutive leaves of the walk (which starts at a seeded leaf): cyclic gaps
        # between a fold's leaves lie in 1..15, so no fold skips a block or takes a clade's neighbours twice
        cyclic = [(b - a) % 32 for a, b in zip(gaps, gaps[1:] + gaps[:1], strict=True)]
        assert all(1 <= c <= 15 for c in cyclic)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_eight_rarest_species_are_spread_over_at_least_six_folds(seed: int) -> None:
    counts = tail_counts(DNA)
    rarest = set(sorted(DNA, key=lambda n: counts[DNA.index(n)])[:8])
    folds = leave_species_out_folds(DNA, counts, 8, seed=seed)
    assert sum(1 for f in folds if rarest & set(f)) >= 6


def test_hold_out_drops_validation_and_all_but_k_training_images_of_each_target() -> None:
    labels = np.array([0] * 6 + [1] * 6)
    splits = np.array(["train", "train", "train", "train", "val", "test"] * 2)
    dropped, pool = hold_out(labels, splits, ["a", "b"], ["b"], shots=1, seed=0)
    assert list(np.flatnonzero(dropped)) == sorted(set(pool[1:].tolist()) | {10})
    assert sorted(pool.tolist()) == [6, 7, 8, 9] and not dropped[pool[0]] and not dropped[11]
    _, pool2 = hold_out(labels, splits, ["a", "b"], ["b"], shots=1, seed=0)
    np.testing.assert_array_equal(pool, pool2)


def test_more_shots_than_training_images_is_refused() -> None:
    labels, splits = np.array([0, 0, 0]), np.array(["train", "val", "test"])
    with pytest.raises(
        UserInputError, match=r"^data.shots=2: a has only 1 training images; use data.shots<=1$"
    ):
        hold_out(labels, splits, ["a"], ["a"], shots=2)
