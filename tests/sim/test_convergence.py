"""Convergent look-alike pairs: the pairing rule on a hand-built tree, and the moved latents."""

from __future__ import annotations

import numpy as np
import pytest

from visgen.sim import convergence


def _toy(n_big: int = 8) -> tuple[list[str], list[int], np.ndarray]:
    """``n_big`` common species b0.. (count 1000 - i) and 4 rare ones r0..r3 (counts 5, 5, 9, 7)."""
    names = [f"b{i}" for i in range(n_big)] + ["r0", "r1", "r2", "r3"]
    counts = [1000 - i for i in range(n_big)] + [5, 5, 9, 7]
    cov = np.full((len(names), len(names)), 0.5)
    np.fill_diagonal(cov, 1.0)
    return names, counts, cov


def test_rarest_first_each_to_its_most_distant_free_partner() -> None:
    names, counts, cov = _toy()
    ix = {s: i for i, s in enumerate(names)}

    def set_cov(a: str, b: str, value: float) -> None:
        cov[ix[a], ix[b]] = cov[ix[b], ix[a]] = value

    set_cov("r0", "b3", 0.0)  # r0's most distant common species
    set_cov("r1", "b3", 0.0)  # r1 wants b3 too, but r0 (same count, earlier in the table) takes it first
    set_cov("r1", "b5", 0.1)
    # r3 (count 7) comes before r2 (count 9); all its partners tie at 0.5, so the largest free one wins: b0.
    pairs = convergence.convergent_pairs(names, counts, cov, 3, eligible=names)
    assert list(pairs.items()) == [("r0", "b3"), ("r1", "b5"), ("r3", "b0")]


def test_only_eligible_species_take_part() -> None:
    names, counts, cov = _toy()
    eligible = [s for s in names if s not in ("r0", "b0")]
    pairs = convergence.convergent_pairs(names, counts, cov, 2, eligible=eligible)
    assert list(pairs) == ["r1", "r3"] and "b0" not in pairs.values()


@pytest.mark.parametrize("k", [-1, 5])
def test_k_out_of_range_is_refused(k: int) -> None:
    names, counts, cov = _toy()  # 12 species: at most 12 - 8 = 4 rare ones outside the 8 partners
    with pytest.raises(ValueError, match=r"convergent pairs must lie in \[0, 4\]"):
        convergence.convergent_pairs(names, counts, cov, k, eligible=names)


def test_skip_moves_the_look_alikes_past_the_rarest() -> None:
    names, counts, cov = _toy()
    # Rarest first: r0, r1 (5), r3 (7), r2 (9); skipping two leaves r3 then r2, partners still by distance/size.
    pairs = convergence.convergent_pairs(names, counts, cov, 2, eligible=names, skip=2)
    assert list(pairs.items()) == [("r3", "b0"), ("r2", "b1")]
    with pytest.raises(ValueError, match=r"convergent pairs must lie in \[0, 1\], got 2"):
        convergence.convergent_pairs(names, counts, cov, 2, eligible=names, skip=3)
    with pytest.raises(ValueError, match=r"skip must lie in \[0, 4\], got 5"):
        convergence.convergent_pairs(names, counts, cov, 0, eligible=names, skip=5)


def test_converge_latents_moves_only_the_rare_rows() -> None:
    rng = np.random.default_rng(0)
    latents = rng.standard_normal((4, 6))
    names = ["a", "b", "c", "d"]
    out = convergence.converge_latents(latents, names, {"d": "a", "c": "b"}, 0.4, np.random.default_rng(7))
    noise = np.random.default_rng(7).standard_normal((2, 6))  # drawn in pair order: d first, then c
    step = convergence.CONVERGENT_OFFSET * 0.4
    np.testing.assert_allclose(out[3], latents[0] + step * noise[0])
    np.testing.assert_allclose(out[2], latents[1] + step * noise[1])
    np.testing.assert_array_equal(out[:2], latents[:2])
    assert not np.shares_memory(out, latents)
