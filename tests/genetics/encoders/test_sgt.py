"""Vectorised SGT against hand values, the authors' published embeddings and the sgt 2.0.3 package."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visgen.genetics.anchors import species_anchors
from visgen.genetics.encoders.encoding import BASE_ALPHABET, DINUCLEOTIDE_ALPHABET, bases, dinucleotides
from visgen.genetics.encoders.sgt import SgtEncoder, sgt_embed

TOL = 1e-9
ORACLE = Path(__file__).resolve().parents[2] / "data" / "sgt_oracle"
SHARED_RDNA = Path(__file__).resolve().parents[4] / "shared" / "data" / "forams" / "rdna"


def _package_sgt(seqs: list[str], alphabet: str, kappa: float, length_sensitive: bool) -> np.ndarray:
    """The oracle: sgt 2.0.3's SGT.fit, one sequence at a time."""
    from sgt import SGT

    model = SGT(alphabets=list(alphabet), kappa=kappa, lengthsensitive=length_sensitive, flatten=True)
    return np.array([model.fit(list(s)).to_numpy(dtype=float) for s in seqs])


def test_hand_computed_values() -> None:
    # "ABA": pairs (0,1) A->B at distance 1, (0,2) A->A at 2, (1,2) B->A at 1; one pair per cell.
    out = sgt_embed(["ABA"], alphabet="AB", kappa=2).reshape(2, 2)
    expected = np.array([[math.exp(-4) ** 0.5, math.exp(-2) ** 0.5], [math.exp(-2) ** 0.5, 0.0]])
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)
    # Length-sensitive: W0 is divided by the length 3, so every entry is scaled by 3**(1/kappa).
    ls = sgt_embed(["ABA"], alphabet="AB", kappa=2, length_sensitive=True).reshape(2, 2)
    np.testing.assert_allclose(ls, expected * math.sqrt(3), rtol=1e-15)
    # One symbol: no pairs, all zeros (the package's 1e7 guard).
    assert not sgt_embed(["A"], alphabet="AB").any()


def test_published_embeddings_all_804(oracle_sequences: list[str], oracle_embeddings: np.ndarray) -> None:
    ours = sgt_embed([dinucleotides(s) for s in oracle_sequences], alphabet=DINUCLEOTIDE_ALPHABET)
    assert ours.shape == (804, 256) and ours.dtype == np.float64
    assert np.abs(ours - oracle_embeddings).max() <= TOL
    # The encoder feeds the kernel symbol indices directly (no symbol string): the same published values.
    assert np.abs(SgtEncoder().encode(oracle_sequences) - oracle_embeddings).max() <= TOL


def test_per_class_means_are_the_paper_anchors(
    oracle: pd.DataFrame, oracle_sequences: list[str], oracle_embeddings: np.ndarray
) -> None:
    ours = sgt_embed([dinucleotides(s) for s in oracle_sequences], alphabet=DINUCLEOTIDE_ALPHABET)
    classes = [f"{c:02d}" for c in oracle["class_32"]]
    names, anchors = species_anchors(ours, classes, "mean")
    paper = np.stack([oracle_embeddings[oracle["class_32"].to_numpy() == int(n)].mean(axis=0) for n in names])
    assert len(names) == 32
    assert np.abs(anchors - paper).max() <= TOL


def test_published_4_base_embeddings(oracle_sequences: list[str]) -> None:
    ref = np.load(ORACLE / "embeddings_4_bases.npy")
    ours = sgt_embed([bases(s) for s in oracle_sequences], alphabet=BASE_ALPHABET)
    assert np.abs(ours - ref).max() <= TOL
    assert np.abs(SgtEncoder(alphabet="base").encode(oracle_sequences) - ref).max() <= TOL


@pytest.mark.skipif(not SHARED_RDNA.is_dir(), reason="../shared reference data not present")
def test_against_shared_reference_files(oracle_sequences: list[str]) -> None:
    ref_dir = SHARED_RDNA / "sgt_reference"
    for folder, stride in (("32_Com_Class_16_base_noskip", 1), ("32_Com_Class_16_base", 2)):
        ref = np.load(ref_dir / folder / "DNA_embeddings.npy")
        ours = sgt_embed([dinucleotides(s, stride) for s in oracle_sequences], alphabet=DINUCLEOTIDE_ALPHABET)
        assert np.abs(ours - ref).max() <= TOL, folder


@st.composite
def _cases(draw: st.DrawFn) -> tuple[list[str], str, float, bool]:
    alphabet = "".join(draw(st.permutations("ABCDEFGH"))[: draw(st.integers(1, 6))])
    # Lengths up to 150 cross the 64-position blocks and, for large kappa, several shorter blocks.
    seqs = draw(st.lists(st.text(alphabet, min_size=1, max_size=150), min_size=1, max_size=4))
    kappa = draw(st.one_of(st.integers(1, 10).map(float), st.floats(0.05, 40.0)))
    return seqs, alphabet, kappa, draw(st.booleans())


@settings(max_examples=60, deadline=None)
@given(_cases())
def test_matches_sgt_package(case: tuple[list[str], str, float, bool]) -> None:
    seqs, alphabet, kappa, length_sensitive = case
    ours = sgt_embed(seqs, alphabet=alphabet, kappa=kappa, length_sensitive=length_sensitive)
    ref = _package_sgt(seqs, alphabet, kappa, length_sensitive)
    # Relative for large entries: length-sensitive SGT with kappa < 1 reaches values >> 1.
    assert np.all(np.abs(ours - ref) <= TOL * np.maximum(1.0, np.abs(ref)))


def test_long_real_sequence_matches_package(oracle_sequences: list[str]) -> None:
    # 700 symbols of the longest join sequence: many blocks at kappa 7.5 (block 64) and 30 (block 20).
    # (kappa 1 on all 804 full sequences is covered by the published embeddings.)
    encoded = [dinucleotides(max(oracle_sequences, key=len))[:700]]
    for kappa in (7.5, 30.0):
        ref = _package_sgt(encoded, DINUCLEOTIDE_ALPHABET, kappa, True)
        ours = sgt_embed(encoded, alphabet=DINUCLEOTIDE_ALPHABET, kappa=kappa, length_sensitive=True)
        assert np.all(np.abs(ours - ref) <= TOL * np.maximum(1.0, np.abs(ref)))


def test_order_and_batching_do_not_matter(
    oracle_sequences: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from visgen.genetics.encoders import sgt as sgt_module

    encoded = [dinucleotides(s) for s in oracle_sequences[:40]]
    together = sgt_embed(encoded, alphabet=DINUCLEOTIDE_ALPHABET)
    alone = np.stack([sgt_embed([e], alphabet=DINUCLEOTIDE_ALPHABET)[0] for e in encoded[::-1]])[::-1]
    assert np.abs(together - alone).max() <= 1e-15
    monkeypatch.setattr(sgt_module, "_BATCH_ELEMENTS", 1)  # every sequence over budget: batches of one
    assert np.abs(sgt_embed(encoded, alphabet=DINUCLEOTIDE_ALPHABET) - together).max() <= 1e-15


@pytest.mark.parametrize(
    "seqs, alphabet, kappa, match",
    [
        ([""], "AB", 1, "empty"),
        (["ABC"], "AB", 1, "outside"),
        (["AB"], "AA", 1, "distinct"),
        (["AB"], "AB", 0, "kappa"),
    ],
)
def test_refuses_bad_input(seqs: list[str], alphabet: str, kappa: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sgt_embed(seqs, alphabet=alphabet, kappa=kappa)


def test_empty_batch() -> None:
    assert sgt_embed([], alphabet="ACGT").shape == (0, 16)


def test_carry_loop_equals_carry_matrix(oracle_sequences: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Very long sequences carry between blocks with a loop; it must equal the [J, J] product."""
    from visgen.genetics.encoders import sgt as sgt_module

    encoded = [dinucleotides(s) for s in oracle_sequences[:30]]
    for kappa in (1.0, 50.0):  # blocks of 32 and of 12 positions
        matrix = sgt_embed(encoded, alphabet=DINUCLEOTIDE_ALPHABET, kappa=kappa)
        with monkeypatch.context() as m:
            m.setattr(sgt_module, "_MAX_CARRY_MATRIX", 0)
            loop = sgt_embed(encoded, alphabet=DINUCLEOTIDE_ALPHABET, kappa=kappa)
        assert np.abs(matrix - loop).max() <= 1e-15 * max(1.0, np.abs(matrix).max())
