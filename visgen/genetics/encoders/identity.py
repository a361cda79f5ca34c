"""Pairwise-alignment identity, the nearest-sequence rule of BLAST-style classifiers, as one vector per species.

Design choices (and why):

* Two sequences' identity is ``1 - edit distance / length of the shorter``, the shorter aligned as an infix of
  the longer (edlib's ``HW`` mode: the longer one's end gaps are free). The shipped 18S records are fragments
  of different stretches of the gene (862-3501 bp); an infix alignment scores a fragment against the part of
  the longer record it falls in, as a local search hit would, with no multiple alignment.
* Two species' identity is their best pair (the top hit), over at most ``max_per_species`` of each species'
  longest sequences: the cost is quadratic in sequences, and on the shipped 18S the best pair barely moves past
  four (29 species with images, Mantel r against the Aze et al. 2011 tree 0.356 / 0.362 / 0.363 at 1 / 4 / 8 per
  species), while the time grows with its square (seconds at the default: reports/bench/dna_encoders.md).
* The embedding is classical MDS of the species distances ``1 - identity`` (D = number of positive
  eigenvalues): anchors whose Euclidean distances follow the identities, with no tree imposed on them.
* Different genes in one file: unrelated random sequences reach 0.511-0.529 identity under this rule
  (650-2500 bp, measured), while the least similar pair of shipped 18S species reaches 0.548. A pair of species
  below ``min_identity`` (default 0.535, between the two) is an error. The margin is thin, because an infix
  alignment of divergent 18S fragments is itself close to chance: the ``aligned`` encoder's guard has more room.

Torch-free; ``edlib`` is imported where used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visgen.errors import UserInputError
from visgen.genetics.encoders import ENCODERS, DnaEncoder
from visgen.genetics.trees import classical_mds


@ENCODERS.register("identity")
class IdentityEncoder(DnaEncoder):
    """One vector per species from the best pairwise-alignment identity between species.

    Args:
        max_per_species: how many of each species' longest sequences take part (>= 1).
        min_identity: the lowest best identity two species may share (0..1); below it the file is taken to
            hold different genes.
    """

    name = "identity"
    per_species = True

    def __init__(self, max_per_species: int = 4, min_identity: float = 0.535) -> None:
        self.max_per_species, self.min_identity = max_per_species, min_identity

    def cache_options(self) -> dict[str, Any]:
        return {"max_per_species": self.max_per_species, "min_identity": self.min_identity}

    def problems(self) -> list[str]:
        out = self._identity_floor_problems()
        if not (isinstance(self.max_per_species, int) and self.max_per_species >= 1):
            out.append(
                f"genetics.encoder.max_per_species={self.max_per_species}: sequences per species, an integer "
                ">= 1; use e.g. 4"
            )
        return out

    def encode_species(self, records_by_species: Mapping[str, Sequence[str]]) -> tuple[list[str], np.ndarray]:
        names = list(records_by_species)
        if len(names) == 1:
            return names, np.zeros((1, 1))
        reps = [
            [s.upper() for s in sorted(records_by_species[n], key=len, reverse=True)[: self.max_per_species]]
            for n in names
        ]
        sim = species_identity(reps)
        iu = np.triu_indices(len(names), 1)
        worst = int(np.argmin(sim[iu]))
        i, j = int(iu[0][worst]), int(iu[1][worst])
        if sim[i, j] < self.min_identity:
            raise UserInputError(
                f"genetics.fasta: the closest sequences of {names[i]} and {names[j]} share only "
                f"{100 * sim[i, j]:.1f} % identity (floor genetics.encoder.min_identity={self.min_identity}), "
                "what unrelated sequences reach: the file looks like different genes (e.g. 18S and COI); "
                "use one marker per FASTA or another genetics/encoder"
            )
        return names, classical_mds(1.0 - sim)


def identity(a: str, b: str) -> float:
    """``1 - edit distance / len(shorter)``, the shorter aligned as an infix of the longer (free end gaps)."""
    import edlib

    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return 1.0 - edlib.align(short, long, mode="HW", task="distance")["editDistance"] / len(short)


def species_identity(reps: Sequence[Sequence[str]]) -> np.ndarray:
    """[S, S] best identity between any sequence of species i and any of species j (1 on the diagonal)."""
    s = len(reps)
    sim = np.eye(s)
    for i in range(s):
        for j in range(i + 1, s):
            sim[i, j] = sim[j, i] = max(identity(a, b) for a in reps[i] for b in reps[j])
    return sim
