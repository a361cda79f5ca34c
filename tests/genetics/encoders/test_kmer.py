"""The k-mer encoder against a counter written out here, window by window."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from visgen.genetics.encoders.kmer import KmerEncoder


def brute_force_frequencies(seq: str, k: int) -> np.ndarray:
    """Relative frequency of every k-mer in lexicographic a < c < g < t order, skipping windows with other symbols."""
    bins = {"".join(kmer): n for n, kmer in enumerate(itertools.product("acgt", repeat=k))}
    counts = np.zeros(4**k)
    low = seq.lower()
    for start in range(len(low) - k + 1):
        window = low[start : start + k]
        if window in bins:
            counts[bins[window]] += 1
    return counts / max(counts.sum(), 1)


@pytest.mark.parametrize("k", [3, 4, 8])
def test_frequencies_equal_the_brute_force_counter(k: int) -> None:
    rng = np.random.default_rng(k)
    seqs = ["".join(rng.choice(list("acgtACGTnNry"), 300)), "ACGTACGTAC", "acg", "acgnacgt"]
    ours = KmerEncoder(k=k).encode(seqs)
    expected = np.stack([brute_force_frequencies(s, k) for s in seqs])
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-15)


def test_hand_counted_example() -> None:
    # "acgta" has the 3-mers acg, cgt, gta: bins 0*16+1*4+2 = 6, 1*16+2*4+3 = 27, 2*16+3*4+0 = 44.
    out = KmerEncoder(k=3).encode(["acgta"])[0]
    assert np.flatnonzero(out).tolist() == [6, 27, 44] and np.allclose(out[[6, 27, 44]], 1 / 3)


def test_clr_is_log_ratio_to_the_geometric_mean_with_pseudocounts() -> None:
    seq = "acgtacggtaccatg"
    counts = brute_force_frequencies(seq, 3) * 13  # 13 windows
    expected = np.log(counts + 0.25) - np.mean(np.log(counts + 0.25))
    np.testing.assert_allclose(
        KmerEncoder(k=3, clr=True, pseudocount=0.25).encode([seq])[0], expected, atol=1e-12
    )


@pytest.mark.parametrize(("k", "ok"), [(2, False), (3, True), (8, True), (9, False), (5.0, False)])
def test_k_outside_3_to_8_is_a_config_problem(k: float, ok: bool) -> None:
    problems = KmerEncoder(k=k).problems()  # type: ignore[arg-type]
    assert (problems == []) is ok
    if not ok:
        assert problems[0].startswith(f"genetics.encoder.k={k}: must be an integer in 3..8")
