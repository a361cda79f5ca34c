"""Nucleotide strings -> symbol strings for the Sequence Graph Transform (pure, torch-free).

The paper (Karaderi et al.) embeds each 18S sequence as overlapping dinucleotides over a 16-symbol
alphabet: with the base order A, T, C, G, the pair ``b1 b2`` becomes ``chr(65 + 4*i(b1) + i(b2))``,
so ``aa -> "A"``, ``at -> "B"``, ..., ``gg -> "P"`` (this reproduces the authors' ``DNA_16_noskip.csv``
for stride 1 and ``DNA_16.csv`` for stride 2). The plain 4-base alphabet is "ACGT" in sorted order,
as the authors' 4-base SGT reference was computed with it.
"""

from __future__ import annotations

import numpy as np

BASE_ORDER = "atcg"  # the authors' order for dinucleotide indices (not alphabetical)
DINUCLEOTIDE_ALPHABET = "".join(chr(65 + k) for k in range(16))  # "A".."P"
BASE_ALPHABET = "ACGT"  # sorted, as the sgt package estimates it from plain sequences
ALPHABETS = {"dinucleotide": DINUCLEOTIDE_ALPHABET, "base": BASE_ALPHABET}

_INDEX = np.full(256, -1, dtype=np.int64)
for _i, _b in enumerate(BASE_ORDER):
    _INDEX[ord(_b)] = _i
    _INDEX[ord(_b.upper())] = _i


def _base_indices(seq: str) -> np.ndarray:
    """Return the A,T,C,G indices [L] of ``seq``; raise ValueError on anything else."""
    raw = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
    idx = _INDEX[raw]
    if (idx < 0).any():
        bad = seq[int(np.argmax(idx < 0))]
        raise ValueError(f"{bad!r} is not one of a, c, g, t; resolve IUPAC codes before encoding")
    return idx


# A base's index in BASE_ORDER -> its index in BASE_ALPHABET (a, t, c, g -> 0, 3, 1, 2).
_BASE_TO_SORTED = np.array([BASE_ALPHABET.index(b.upper()) for b in BASE_ORDER], dtype=np.int64)


def _dinucleotide_codes(seq: str, stride: int) -> np.ndarray:
    """Indices [L'] into DINUCLEOTIDE_ALPHABET of ``seq``'s dinucleotides (``dinucleotides``' rules and errors)."""
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride}")
    idx = _base_indices(seq)
    if len(idx) < 2:
        raise ValueError(f"a dinucleotide needs at least 2 bases, got {len(idx)}")
    return 4 * idx[0 : len(idx) - 1 : stride] + idx[1::stride]


def dinucleotides(seq: str, stride: int = 1) -> str:
    """Encode a nucleotide sequence as dinucleotide symbols "A".."P".

    Args:
        seq: bases a, c, g, t in any case, length L >= 2.
        stride: 1 for overlapping pairs (the paper; L - 1 symbols) or 2 for non-overlapping pairs
            starting at the first base (L // 2 symbols; an odd last base is dropped).

    Returns:
        The symbol string.

    Raises:
        ValueError: a stride other than 1 or 2, fewer than 2 bases, or a base outside a, c, g, t.
    """
    return (65 + _dinucleotide_codes(seq, stride)).astype(np.uint8).tobytes().decode("ascii")


def bases(seq: str) -> str:
    """Encode a nucleotide sequence over the plain alphabet "ACGT" (upper case).

    Raises:
        ValueError: a base outside a, c, g, t.
    """
    _base_indices(seq)
    return seq.upper()


def symbol_codes(seq: str, *, alphabet: str = "dinucleotide", stride: int = 1) -> np.ndarray:
    """``encode(seq, ...)`` as int64 indices into ``ALPHABETS[alphabet]``, without the string in between.

    The SGT kernel wants indices; going through the symbol string and back cost ~15 us of ~45 us of Python per
    658-bp barcode, a tenth of encoding a barcode table.
    """
    if alphabet == "dinucleotide":
        return _dinucleotide_codes(seq, stride)
    if alphabet == "base":
        return _BASE_TO_SORTED[_base_indices(seq)]
    raise ValueError(f"alphabet must be one of {sorted(ALPHABETS)}, got {alphabet!r}")


def encode(seq: str, *, alphabet: str = "dinucleotide", stride: int = 1) -> str:
    """Encode ``seq`` for the named alphabet ("dinucleotide" or "base"; ``stride`` only for the former).

    The symbols at ``symbol_codes``' indices, so the alphabet is dispatched in one place.
    """
    codes = symbol_codes(seq, alphabet=alphabet, stride=stride)
    return np.frombuffer(ALPHABETS[alphabet].encode("ascii"), dtype=np.uint8)[codes].tobytes().decode("ascii")
