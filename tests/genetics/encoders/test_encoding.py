"""Dinucleotide and base encodings against hand values and the authors' published encodings."""

from __future__ import annotations

import pandas as pd
import pytest

from visgen.genetics.encoders.encoding import (
    ALPHABETS,
    DINUCLEOTIDE_ALPHABET,
    bases,
    dinucleotides,
    encode,
    symbol_codes,
)


def test_symbol_table_is_the_papers() -> None:
    # Base order A,T,C,G; symbol = chr(65 + 4 i(b1) + i(b2)).
    pairs = [b1 + b2 for b1 in "atcg" for b2 in "atcg"]
    assert "".join(dinucleotides(p) for p in pairs) == DINUCLEOTIDE_ALPHABET == "ABCDEFGHIJKLMNOP"
    assert dinucleotides("aa") == "A" and dinucleotides("at") == "B" and dinucleotides("gg") == "P"


def test_strides_by_hand() -> None:
    # a a t g c: aa=A at=B tg=H gc=O (g=3, c=2 -> 4*3+2=14)
    assert dinucleotides("aatgc") == "ABHO"
    assert dinucleotides("aatgc", stride=2) == "AH"  # non-overlapping; the odd last base is dropped
    assert dinucleotides("AaTg") == dinucleotides("aatg")  # any case


@pytest.mark.parametrize("stride, column", [(1, "dna16_stride1"), (2, "dna16_stride2")])
def test_all_804_sequences_match_published(
    stride: int, column: str, oracle: pd.DataFrame, oracle_sequences: list[str]
) -> None:
    mismatches = [
        acc
        for acc, seq, ref in zip(oracle["accession"], oracle_sequences, oracle[column], strict=True)
        if dinucleotides(seq, stride) != ref
    ]
    assert mismatches == []
    assert sum(len(s) % 2 for s in oracle_sequences) > 0  # odd lengths are exercised by stride 2


def test_bases_and_dispatch() -> None:
    assert bases("acgTn"[:4]) == "ACGT"
    assert encode("acgt", alphabet="base") == "ACGT"
    assert encode("acgt", alphabet="dinucleotide", stride=2) == dinucleotides("acgt", 2)
    with pytest.raises(ValueError, match="alphabet"):
        encode("acgt", alphabet="protein")


@pytest.mark.parametrize("bad", ["acgn", "ac-g", "acgé", "a"])
def test_refuses_non_acgt_and_too_short(bad: str) -> None:
    with pytest.raises(ValueError):
        dinucleotides(bad)


def test_refuses_bad_stride() -> None:
    with pytest.raises(ValueError, match="stride"):
        dinucleotides("acgt", stride=3)


@pytest.mark.parametrize("alphabet, stride", [("dinucleotide", 1), ("dinucleotide", 2), ("base", 1)])
def test_symbol_codes_index_the_alphabet_at_the_symbols_encode_writes(
    alphabet: str, stride: int, oracle_sequences: list[str]
) -> None:
    # The oracle: the string encoders checked against the authors' published encodings above.
    symbols, by_string = (
        ALPHABETS[alphabet],
        {"dinucleotide": lambda s: dinucleotides(s, stride), "base": bases},
    )
    for seq in [*oracle_sequences, "AcGt", "ta"]:
        codes = symbol_codes(seq, alphabet=alphabet, stride=stride)
        assert "".join(symbols[i] for i in codes) == by_string[alphabet](seq)
        assert encode(seq, alphabet=alphabet, stride=stride) == by_string[alphabet](seq)
    with pytest.raises(ValueError, match="a, c, g, t"):
        symbol_codes("acgn", alphabet=alphabet, stride=stride)
