"""Alignment-based species embedding: FAMSA alignment -> species consensus -> distances -> NJ tree -> vectors.

Design choices (and why):

* All sequences are aligned together with FAMSA (``pyfamsa``), then each species is reduced to ONE consensus
  sequence before any distance is taken. The shipped 18S records are fragments of different stretches of the
  gene (862-3501 bp), so two single records often share little; the consensus of a species pools its
  fragments (at each column, the majority among the members whose fragment spans that column, gap included)
  and covers far more of the gene. It also makes the tree one tip per species, which is what an anchor is,
  and keeps neighbour joining at S (not N) tips.
* Distances use pairwise deletion: only columns where both consensuses have a base count. ``p`` is the
  mismatch fraction; ``jc69`` is Jukes-Cantor, ``-3/4 ln(1 - 4p/3)``.
* Sequences of different genes (18S and COI in one file) cannot be aligned meaningfully. FAMSA still returns
  an alignment, in which such pairs share ~40-51 % identity (what unrelated sequences reach once an aligner
  places gaps), while the lowest pair of the shipped 18S species shares 54.8 % (measured: all 854 usable
  records, 39 species). ``min_identity`` (default 0.52) sits between the two; a pair below it is an error.
* The embedding is the tree's, not the distances': rows of ``C^(1/2)`` where ``C`` is the shared-path
  covariance of the midpoint-rooted NJ tree (``||e_i - e_j||^2`` = patristic distance), or classical MDS
  of the patristic distances.

Torch-free; ``pyfamsa`` and ``scikit-bio`` are imported where used (they take ~1 s to import).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from visgen.errors import UserInputError
from visgen.genetics.encoders import ENCODERS, DnaEncoder
from visgen.genetics.trees import (
    classical_mds,
    nj_tree,
    patristic_distances,
    shared_path_covariance,
    sqrt_psd,
)

_SYMBOLS = np.frombuffer(b"ACGT-", dtype=np.uint8)
_GAP, _NONE = ord("-"), 0  # _NONE: no member of the species spans the column


@ENCODERS.register("aligned")
class AlignedEncoder(DnaEncoder):
    """One vector per species from a multiple alignment and a neighbour-joining tree.

    Args:
        model: distance model, ``jc69`` (Jukes-Cantor) or ``p`` (p-distance).
        embedding: ``sqrt_cov`` (rows of the square root of the tree covariance; D = S) or ``mds`` (classical
            MDS of the patristic distances; D = number of positive eigenvalues).
        min_identity: the lowest identity a pair of species consensuses may share (0..1); below it the file
            is taken to hold different genes.
    """

    name = "aligned"
    per_species = True
    choices: ClassVar[Mapping[str, tuple[Any, ...]]] = {
        "model": ("jc69", "p"),
        "embedding": ("sqrt_cov", "mds"),
    }

    def __init__(self, model: str = "jc69", embedding: str = "sqrt_cov", min_identity: float = 0.52) -> None:
        self.model, self.embedding, self.min_identity = model, embedding, min_identity

    def cache_options(self) -> dict[str, Any]:
        return {"model": self.model, "embedding": self.embedding, "min_identity": self.min_identity}

    def problems(self) -> list[str]:
        return self._choice_problems() + self._identity_floor_problems()

    def encode_species(self, records_by_species: Mapping[str, Sequence[str]]) -> tuple[list[str], np.ndarray]:
        names = list(records_by_species)
        if len(names) == 1:
            return names, np.zeros((1, 1))
        seqs = [s.upper() for n in names for s in records_by_species[n]]
        owner = np.repeat(np.arange(len(names)), [len(records_by_species[n]) for n in names])
        consensus = species_consensus(align(seqs), owner, len(names))
        p, shared = p_distances(consensus)
        self._refuse_unrelated(names, p, shared)
        dist = p if self.model == "p" else -0.75 * np.log(1.0 - 4.0 * p / 3.0)
        tips = [f"t{k}" for k in range(len(names))]  # Newick-safe tip names
        cov = shared_path_covariance(nj_tree(dist, tips), tips)
        if self.embedding == "mds":
            return names, classical_mds(patristic_distances(cov))
        return names, sqrt_psd(cov)

    def _refuse_unrelated(self, names: list[str], p: np.ndarray, shared: np.ndarray) -> None:
        """One error line for the worst pair that shares no column or less identity than ``min_identity``."""
        s = len(names)
        iu = np.triu_indices(s, 1)
        if (shared[iu] == 0).any():
            k = int(np.argmin(shared[iu]))
            i, j = int(iu[0][k]), int(iu[1][k])
            raise UserInputError(
                f"genetics.fasta: {names[i]} and {names[j]} share no aligned column, so no distance exists; "
                "use sequences of one marker that overlap, or another genetics/encoder"
            )
        worst = int(np.argmax(p[iu]))
        i, j = int(iu[0][worst]), int(iu[1][worst])
        identity = 1.0 - p[i, j]
        if identity < self.min_identity or p[i, j] >= 0.75:
            raise UserInputError(
                f"genetics.fasta: {names[i]} and {names[j]} share only {100 * identity:.0f} % identity over "
                f"{int(shared[i, j])} aligned columns (floor genetics.encoder.min_identity={self.min_identity}): "
                "the file looks like different genes (e.g. 18S and COI), which cannot be aligned; "
                "use one marker per FASTA or another genetics/encoder"
            )


def align(sequences: Sequence[str]) -> np.ndarray:
    """FAMSA multiple alignment (one thread, default guide tree) -> uint8 [N, L] of A, C, G, T, '-'."""
    import pyfamsa

    msa = pyfamsa.Aligner(threads=1).align(
        [pyfamsa.Sequence(str(k).encode(), s.encode()) for k, s in enumerate(sequences)]
    )
    rows = {int(r.id): np.frombuffer(r.sequence, dtype=np.uint8) for r in msa}
    return np.stack([rows[k] for k in range(len(sequences))])


def species_consensus(msa: np.ndarray, owner: np.ndarray, n_species: int) -> np.ndarray:
    """Majority symbol (A, C, G, T or gap) per column among the members of a species whose fragment spans it.

    Args:
        msa: uint8 [N, L] alignment.
        owner: [N] species index of each row.
        n_species: S.

    Returns:
        uint8 [S, L]; 0 where no member spans the column (a gap before a fragment's start is not an indel).
    """
    base = msa != _GAP
    length = msa.shape[1]
    first = base.argmax(axis=1)
    last = length - 1 - base[:, ::-1].argmax(axis=1)
    cols = np.arange(length)
    spans = (cols >= first[:, None]) & (cols <= last[:, None])
    out = np.zeros((n_species, length), dtype=np.uint8)
    for s in range(n_species):
        rows, span = msa[owner == s], spans[owner == s]
        counts = np.stack([((rows == sym) & span).sum(axis=0) for sym in _SYMBOLS])  # ties: the first symbol
        out[s] = np.where(span.any(axis=0), _SYMBOLS[counts.argmax(axis=0)], _NONE)
    return out


def p_distances(consensus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-deletion p-distances between consensus rows.

    Returns:
        ``(p [S, S], shared [S, S])``: mismatch fraction over the columns where both rows have a base, and the
        number of those columns (p = 0 where none).
    """
    has = (consensus != _GAP) & (consensus != _NONE)
    s = len(consensus)
    p, shared = np.zeros((s, s)), np.zeros((s, s), dtype=np.int64)
    for i in range(s):
        both = has[i] & has
        shared[i] = both.sum(axis=1)
        p[i] = ((consensus[i] != consensus) & both).sum(axis=1) / np.maximum(shared[i], 1)
    return p, shared
