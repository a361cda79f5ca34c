"""experiments/paper_table/error_genetics.py: genetic ranks of predicted species, against a hand-made line of anchors."""

from __future__ import annotations

import numpy as np
from probe_jobs import load_script

errors = load_script("error_genetics")


def test_genetic_ranks_count_the_species_at_least_as_close() -> None:
    # Anchors on a line at 0, 1, 3, 7: species 2's neighbours by distance are 1 (2), 0 (3), 3 (4).
    anchors = np.array([[0.0], [1.0], [3.0], [7.0]])
    ranks = errors.genetic_ranks(anchors)
    assert ranks[0].tolist()[1:] == [1, 2, 3]
    assert (ranks[2, 1], ranks[2, 0], ranks[2, 3]) == (1, 2, 3)
    # A tie: species 1 and 2 are both 1 away from species 0, so both get the worse rank, 2.
    tied = errors.genetic_ranks(np.array([[0.0], [-1.0], [1.0]]))
    assert tied[0, 1] == tied[0, 2] == 2
