"""k-mer frequency spectrum of each sequence, optionally in centred log-ratio coordinates. Torch-free."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from visgen.genetics.divergence import kmer_counts
from visgen.genetics.encoders import ENCODERS, DnaEncoder

K_RANGE = (
    3,
    8,
)  # 4**3 = 64 bins is the coarsest useful spectrum; 4**8 = 65536 floats per sequence is the most


@ENCODERS.register("kmer")
class KmerEncoder(DnaEncoder):
    """Relative frequencies of the 4**k k-mers (windows with non-ACGT symbols skipped).

    Frequencies live on the simplex, where Euclidean geometry (which the anchors' centring, whitening and
    cosine losses assume) distorts ratios; ``clr`` maps them to ``log(f + pc) - mean(log(f + pc))``
    (counts plus ``pseudocount``, renormalised), so absent k-mers do not give log(0).

    Args:
        k: k-mer length, 3..8; D = 4**k.
        clr: centred log-ratio transform of the frequencies.
        pseudocount: added to every count before the log (> 0; only used with ``clr``).
    """

    name = "kmer"
    choices: ClassVar[Mapping[str, tuple[Any, ...]]] = {}

    def __init__(self, k: int = 5, clr: bool = False, pseudocount: float = 0.5) -> None:
        self.k, self.clr, self.pseudocount = k, clr, pseudocount

    def cache_options(self) -> dict[str, Any]:
        return {"k": self.k, "clr": self.clr, "pseudocount": self.pseudocount}

    def problems(self) -> list[str]:
        out = []
        lo, hi = K_RANGE
        if not (isinstance(self.k, int) and not isinstance(self.k, bool) and lo <= self.k <= hi):
            out.append(
                f"genetics.encoder.k={self.k}: must be an integer in {lo}..{hi} (4**k bins); use e.g. 5"
            )
        if not (isinstance(self.pseudocount, int | float) and self.pseudocount > 0):
            out.append(
                f"genetics.encoder.pseudocount={self.pseudocount}: the log needs a count > 0; use e.g. 0.5"
            )
        return out

    def encode(self, sequences: Sequence[str]) -> np.ndarray:
        counts = np.zeros((len(sequences), 4**self.k))
        for n, seq in enumerate(sequences):
            counts[n] = kmer_counts(seq, self.k)
        # In place: at 100k sequences and k = 5 each [N, 4**k] float64 copy is 0.8 GB.
        if self.clr:
            counts += self.pseudocount
            counts /= counts.sum(axis=1, keepdims=True)
            np.log(counts, out=counts)
            counts -= counts.mean(axis=1, keepdims=True)
            return counts
        counts /= np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
        return counts
