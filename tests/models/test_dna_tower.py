"""The DNA tower: k-mer ids against a brute-force enumeration, the k-mer bank's bags, species-mean anchors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visgen.errors import UserInputError
from visgen.models.dna_tower import DnaTower, KmerBank, kmer_ids, tower_anchors


def brute_force_ids(sequence: str, k: int) -> list[int]:
    """Every window of k letters, kept if all are ACGT, numbered by its rank in the sorted list of all 4^k k-mers."""
    vocabulary = ["".join(p) for p in itertools.product("acgt", repeat=k)]  # lexicographic = base-4 order
    rank = {kmer: i for i, kmer in enumerate(vocabulary)}
    windows = [sequence[i : i + k].lower() for i in range(len(sequence) - k + 1)]
    return [rank[w] for w in windows if w in rank]


@settings(max_examples=40, deadline=None)
@given(sequence=st.text(alphabet="acgtACGTnry-", max_size=40), k=st.integers(1, 5))
def test_kmer_ids_equal_a_brute_force_enumeration(sequence: str, k: int) -> None:
    assert kmer_ids(sequence, k).tolist() == brute_force_ids(sequence, k)


def test_kmer_ids_by_hand() -> None:
    # acgt -> ac=0*4+1=1, cg=1*4+2=6, gt=2*4+3=11; "gn" and "na" skipped.
    assert kmer_ids("acgtna", 2).tolist() == [1, 6, 11]


def test_bank_selects_each_sequences_own_ids_as_one_bag() -> None:
    sequences = ["acgta", "ttt", "gggcc"]
    bank = KmerBank(sequences, k=2)
    ids, offsets = bank.select(torch.tensor([2, 0, 2]))
    expected = [kmer_ids(sequences[r], 2).tolist() for r in (2, 0, 2)]
    assert ids.tolist() == [i for bag in expected for i in bag]
    assert offsets.tolist() == [0, len(expected[0]), len(expected[0]) + len(expected[1])]


def test_a_sequence_without_any_clean_kmer_is_refused() -> None:
    with pytest.raises(UserInputError, match="kmer=4"):
        KmerBank(["acgtac", "acgnnnac"], k=4)


def test_tower_embeds_a_bag_as_the_mlp_of_its_mean_kmer_vector() -> None:
    torch.manual_seed(0)
    tower = DnaTower(k=2, embedding_dim=3, hidden=4)
    bank = KmerBank(["acgtt", "ca"], k=2)
    out = tower.embed(bank, torch.tensor([0, 1]))
    for row, sequence in enumerate(["acgtt", "ca"]):
        mean = tower.bag.weight[torch.from_numpy(kmer_ids(sequence, 2))].mean(dim=0)
        torch.testing.assert_close(out[row], tower.mlp(mean))


def test_tower_anchors_are_species_means_of_unit_sequence_embeddings() -> None:
    torch.manual_seed(0)
    tower = DnaTower(k=3, embedding_dim=4, hidden=8)
    sequences = ["acgtacgt", "ttgacca", "gggaaattt", "cagtcagt"]
    bank = KmerBank(sequences, k=3)
    species_rows = [[0, 2], [], [1, 3], [3]]
    anchors = tower_anchors(tower, bank, species_rows).numpy()
    emb = tower.embed(bank, torch.arange(4)).detach().numpy()
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    np.testing.assert_allclose(anchors[0], (unit[0] + unit[2]) / 2, rtol=1e-5)
    assert np.isnan(anchors[1]).all()  # a species without sequences has no anchor
    np.testing.assert_allclose(anchors[2], (unit[1] + unit[3]) / 2, rtol=1e-5)
    np.testing.assert_allclose(anchors[3], unit[3], rtol=1e-5)
    assert tower.training  # left in the mode it was found in
