"""The identity encoder: infix edit-distance identity against hand-counted cases, best pair per species, MDS."""

from __future__ import annotations

import numpy as np
import pytest

from visgen.genetics.encoders.identity import IdentityEncoder, identity, species_identity


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("ACGTACGTAC", "ACGTACGTAC", 1.0),
        ("CGTA", "AACGTAGG", 1.0),  # an infix of the longer one: its end gaps are free
        ("AACGTAGG", "CGTA", 1.0),  # the order of the arguments does not matter
        ("ACGTACGTAC", "ACGTTCGTAC", 0.9),  # one substitution in 10
        ("ACGTACGT", "ACGTTACGT", 1 - 1 / 8),  # one base inserted in the longer: one edit over the shorter's 8
        ("AAAA", "CCCCCCCC", 0.0),  # every base of the shorter one mismatched
    ],
)  # fmt: skip
def test_identity_is_one_minus_infix_edits_over_the_shorter_length(a: str, b: str, expected: float) -> None:
    assert identity(a, b) == pytest.approx(expected)


def test_two_species_share_the_identity_of_their_closest_pair_of_sequences() -> None:
    sim = species_identity([["ACGTACGTAC", "TTTTTTTTTT"], ["GGGGGGGGGG", "ACGTTCGTAC"], ["CCCCCCCCCC"]])
    assert (
        sim[0, 1] == sim[1, 0] == pytest.approx(0.9)
    )  # ACGTACGTAC vs ACGTTCGTAC, not the poly-T/poly-G pair
    assert sim[0, 2] == pytest.approx(0.3)  # ACGTACGTAC's three Cs against poly-C, the best of its pairs
    assert np.diag(sim).tolist() == [1.0, 1.0, 1.0]


def test_only_the_longest_sequences_of_a_species_take_part() -> None:
    # Two species: classical MDS of two points is exact, so the anchor distance is 1 - their best identity.
    species = {"a": ["ACGTACGTAC", "T" * 12], "b": ["ACGTACGTAC"]}
    distance = {}
    for k in (1, 2):
        _, anchors = IdentityEncoder(max_per_species=k, min_identity=0.0).encode_species(species)
        distance[k] = float(np.linalg.norm(anchors[0] - anchors[1]))
    assert distance[1] == pytest.approx(0.8)  # only a's longest, poly-T: 2 of b's 10 bases match
    assert distance[2] == pytest.approx(0.0, abs=1e-9)  # a's shorter copy of b takes part too


def test_anchor_distances_reproduce_one_minus_identity_when_those_are_euclidean() -> None:
    seqs = {"a": ["ACGTACGTAC"], "b": ["ACGTTCGTAC"], "c": ["ACGTTCGAAC"]}
    names, anchors = IdentityEncoder(min_identity=0.0).encode_species(seqs)
    sim = species_identity([seqs[n] for n in names])
    np.testing.assert_allclose(sim[np.triu_indices(3, 1)], [0.9, 0.8, 0.9])  # a-b, a-c, b-c
    dist = np.linalg.norm(anchors[:, None] - anchors[None], axis=-1)
    np.testing.assert_allclose(dist, 1.0 - sim, atol=1e-9)  # 0.1 + 0.1 >= 0.2: a degenerate (flat) triangle
