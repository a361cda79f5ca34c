"""The GZSL ``tower`` rung's fit: it never reads a held-out species' DNA, and it is reproducible from its seed."""

from __future__ import annotations

import numpy as np
import torch

from visgen.eval.tower_fit import fit_tower_anchors
from visgen.models.dna_tower import KmerBank

SEQUENCES = ["acgtacgtaacg", "acgtacgtccat", "ttgaccattgga", "gggaaatttcca", "cagtcagtcaag", "tatatagcgcgc"]
CLASS_ROWS = [[0, 1], [2], [3], [4, 5]]  # class 3 is the held-out target: no images below


def _fit(sequences: list[str], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 5)
    features = rng.normal(size=(len(labels), 6)) + labels[:, None]
    return fit_tower_anchors(
        features, labels, KmerBank(sequences, k=3), CLASS_ROWS, kmer=3, embedding_dim=4, hidden=8,
        temperature=0.1, steps=20, lr=1e-2, per_class=2, seed=seed,
    )  # fmt: skip


def test_a_targets_sequences_are_never_read_by_the_fit() -> None:
    other = [*SEQUENCES[:4], "ccccggggaaaa", "gagagatctcta"]  # the target's two sequences replaced
    a, b = _fit(SEQUENCES), _fit(other)
    np.testing.assert_array_equal(a[:3], b[:3])  # every seen species' anchor: bit-identical
    assert not np.allclose(a[3], b[3])  # the target's anchor is the tower applied to ITS sequences


def test_the_fit_is_reproducible_from_its_seed_and_leaves_the_callers_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = _fit(SEQUENCES, seed=5)
    assert torch.equal(torch.rand(3), expected)
    np.testing.assert_array_equal(a, _fit(SEQUENCES, seed=5))
    assert not np.array_equal(a, _fit(SEQUENCES, seed=6))
    assert a.shape == (4, 4) and a.dtype == np.float64 and np.isfinite(a).all()
