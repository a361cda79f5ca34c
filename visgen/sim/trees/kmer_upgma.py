"""ForamSim's default species tree: UPGMA on the net k-mer divergence of the real 18S rDNA.

UPGMA (average linkage) turns the distances of :mod:`visgen.genetics.divergence` into an ultrametric tree; its
shared-path covariance ``C[i, j]`` (root-to-MRCA depth, normalised so the tips have depth 1) is the covariance
of a Brownian motion run along the tree. The three image species without any 18S sequence are placed as the
sister of a congener. Because the tree is built from the same DNA the anchors are, a k-mer anchor scored on
this tree is scored against its own construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visgen.genetics.divergence import genetic_distances
from visgen.genetics.trees import tree_covariance
from visgen.sim.trees import TREES

# Species without any 18S sequence in the shared data, placed as the sister of a congener.
# - Globorotalia_crassaformis -> Globorotalia_truncatulinoides: G. truncatulinoides descends from
#   G. crassaformis (both in the subgenus Truncorotalia; the classic Pliocene ancestor-descendant pair).
# - Turborotalita_humilis -> Turborotalita_quinqueloba: the only congener with DNA here.
# - Globigerinella_adamsi -> Globigerinella_siphonifera: a congener in the planispiral Globigerinella
#   clade; of its two congeners with DNA, siphonifera has far more sequences (23 vs 2), so the placement
#   rests on a stable profile.
# The sister pair is joined at a small genetic distance (SISTER_QUANTILE of all inter-species distances),
# i.e. as a recent split, the conservative guess for an unsequenced congener (capped at half the
# sister's nearest distance so the pair stays sisters in the UPGMA tree).
NO_DNA_SISTERS: dict[str, str] = {
    "Globorotalia_crassaformis": "Globorotalia_truncatulinoides",
    "Turborotalita_humilis": "Turborotalita_quinqueloba",
    "Globigerinella_adamsi": "Globigerinella_siphonifera",
}
SISTER_QUANTILE = 0.05


def place_missing(dist: np.ndarray, names: list[str], all_species: Sequence[str]) -> np.ndarray:
    """Extend a distance matrix to ``all_species`` by placing each species without DNA next to its sister.

    Args:
        dist: ``[S, S]`` distances between ``names``.
        all_species: the full species list (order of the result).

    Returns:
        ``[N, N]`` distances over ``all_species``; a placed species copies its sister's row and sits
        ``SISTER_QUANTILE`` of the inter-species distances away from it (or half the sister's nearest
        distance, if smaller).
    """
    index = {s: i for i, s in enumerate(names)}
    delta = float(np.quantile(dist[np.triu_indices_from(dist, 1)], SISTER_QUANTILE))
    proxy = []
    for s in all_species:
        if s in index:
            proxy.append(index[s])
        elif s in NO_DNA_SISTERS:
            proxy.append(index[NO_DNA_SISTERS[s]])
        else:
            raise KeyError(f"{s} has no 18S sequence and no documented sister in NO_DNA_SISTERS")
    proxy_arr = np.array(proxy)
    full = dist[np.ix_(proxy_arr, proxy_arr)].copy()
    for i, j in zip(*np.nonzero(proxy_arr[:, None] == proxy_arr[None, :]), strict=True):
        if i != j:
            # The sister pair: a recent split, and always closer than the sister's nearest neighbour,
            # so that UPGMA joins the pair before anything else.
            row = dist[proxy_arr[i]]
            full[i, j] = min(delta, 0.5 * float(np.min(row[row > 0])))
    return full


def species_covariance(all_species: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The tree covariance over ``all_species`` and the raw genetic distances of those with DNA.

    Returns:
        ``(C [N, N], D [S, S], names_with_dna)``.
    """
    dist, names = genetic_distances(all_species)
    return tree_covariance(place_missing(dist, names, all_species)), dist, names


@TREES.register("kmer_upgma")
def kmer_upgma_tree(all_species: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The registry's view: ``(C [N, N], the species without DNA, placed by NO_DNA_SISTERS)``."""
    cov, _, names = species_covariance(all_species)
    return cov, [s for s in all_species if s not in names]
