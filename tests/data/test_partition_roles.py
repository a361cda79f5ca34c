"""A data set's own partitions as GZSL roles (visgen/data/layouts/roles.py, heldout.partition_hold_out), by hand."""

from __future__ import annotations

import numpy as np
import pytest

from visgen.data.heldout import partition_hold_out
from visgen.data.layouts import PartitionRoles

ROLES = PartitionRoles(support=("key_unseen",), validation=("val_unseen",), queries=("test_unseen",),
                       novel=("other_heldout",))  # fmt: skip
NAMES = ["seen_a", "seen_b", "unseen_c", "novel_d", "unseen_e"]
#: image:          0        1        2             3             4             5              6               7       8
PARTS = np.array(["train", "train", "key_unseen", "key_unseen", "val_unseen", "test_unseen", "other_heldout", "test",
                  "test_unseen", "key_unseen"], dtype=object)  # fmt: skip
LABELS = np.array([0, 1, 2, 2, 2, 2, 3, 0, 4, 4])
MAPPED = np.array(["train", "train"] + ["test"] * 8, dtype=object)


@pytest.mark.parametrize("shots", [0, 1])
def test_the_unseen_partitions_name_the_targets_their_pool_and_their_queries(shots: int) -> None:
    targets, splits, dropped, pool = partition_hold_out(LABELS, MAPPED, PARTS, NAMES, ROLES, shots, seed=3)
    # Species with an image in key/val/test_unseen, in class order; novel_d is no target.
    assert targets == ["unseen_c", "unseen_e"]
    assert splits.tolist() == [
        "train",
        "train",
        "train",
        "train",
        "val",
        "test",
        "novel",
        "test",
        "test",
        "train",
    ]
    # The pool: each target's key images (c: 2 and 3, e: 9), species by species; the first shots of each kept.
    assert sorted(pool[:2].tolist()) == [2, 3] and pool[2:].tolist() == [9]
    assert [bool(dropped[i]) for i in pool] == [False] * shots + [True] * (2 - shots) + [shots == 0]
    # The validation query and the novel image leave every split; the queries and the seen images stay.
    assert dropped[[4, 6]].all() and not dropped[[0, 1, 5, 7, 8]].any()


def test_more_shots_than_key_images_is_one_line() -> None:
    from visgen.errors import UserInputError

    with pytest.raises(UserInputError, match=r"^data.shots=2: unseen_e has only 1 image in key_unseen"):
        partition_hold_out(LABELS, MAPPED, PARTS, NAMES, ROLES, 2)
