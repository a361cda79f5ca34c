"""ForamSim's fossil tree: the Aze et al. (2011) morphospecies phylogeny, independent of the 18S sequences.

The shipped ``visgen/data/aze2011/foramAM.csv`` (CC0; its PROVENANCE.md) lists every Cenozoic macroperforate
morphospecies with its ancestor and its first and last appearance (Ma). Each lineage runs from its start to its
end and a descendant buds off its ancestor at its own start, so two living species share their history down to
the age at which their lineages split (:func:`visgen.genetics.trees.budding_divergence_ages`). The shared path
from the root (the oldest split among the species asked for) to that split, over the root's age, is the
Brownian-motion covariance with unit tip depth, as in :mod:`visgen.sim.trees.kmer_upgma`. Because it rests on
fossils and morphology, a DNA anchor scored on this tree is not scored against its own construction.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from visgen.genetics.species import canonical_species
from visgen.genetics.trees import budding_divergence_ages, covariance_from_split_ages
from visgen.sim.trees import TREES

TABLE = Path(__file__).resolve().parents[2] / "data" / "aze2011" / "foramAM.csv"

# Aze name -> ForamSim (Endless Forams) name, where the two taxonomies differ. Aze et al. split the image set's
# Globorotalia into genera that were subgenera of Globorotalia: Globoconella (inflata), Menardella (menardii),
# Truncorotalia (truncatulinoides, crassaformis) and Hirsutella (scitula, hirsuta). Every other ForamSim
# species in the tree has the same name in both.
SYNONYMS: dict[str, str] = {
    "Globoconella_inflata": "Globorotalia_inflata",
    "Menardella_menardii": "Globorotalia_menardii",
    "Truncorotalia_truncatulinoides": "Globorotalia_truncatulinoides",
    "Truncorotalia_crassaformis": "Globorotalia_crassaformis",
    "Hirsutella_scitula": "Globorotalia_scitula",
    "Hirsutella_hirsuta": "Globorotalia_hirsuta",
}

# ForamSim species the tree lacks, placed as the sister of a relative (a recent split, SISTER_QUANTILE of
# the split ages, as kmer_upgma places the species without DNA).
# - Neogloboquadrina_incompta -> Neogloboquadrina_pachyderma: incompta was long lumped with pachyderma as its
#   right-coiling form (Aze et al. keep the lumped morphospecies).
# - Globigerinoides_elongatus -> Globigerinoides_ruber: elongatus was part of G. ruber sensu lato until split
#   from it on genetic and morphological grounds.
# - Globigerinita_uvula -> Globigerinita_glutinata: its congener; glutinata itself sits at the root (below).
SISTERS: dict[str, str] = {
    "Neogloboquadrina_incompta": "Neogloboquadrina_pachyderma",
    "Globigerinoides_elongatus": "Globigerinoides_ruber",
    "Globigerinita_uvula": "Globigerinita_glutinata",
}
# ForamSim species outside the macroperforate clade the tree covers, with no relative in it: joined at the root
# (shared path 0 with every other species), the one placement that claims no relationship the data lacks.
# - Globigerinita_glutinata, Candeina_nitida, Tenuitella_iota: microperforate (Candeinidae), a separate clade.
# - Hastigerina_pelagica: Hastigerinidae, left out of Aze et al.'s macroperforate tree.
AT_ROOT: tuple[str, ...] = (
    "Globigerinita_glutinata",
    "Candeina_nitida",
    "Tenuitella_iota",
    "Hastigerina_pelagica",
)
SISTER_QUANTILE = 0.05


@lru_cache(maxsize=1)
def extant_tree() -> tuple[np.ndarray, tuple[str, ...]]:
    """Split ages of every extant morphospecies of the shipped table.

    Returns:
        ``(ages [T, T] in Ma, tips as ForamSim spells them)``: the rows with ``End_date`` 0, in table order,
        Aze names mapped through ``SYNONYMS`` by :func:`visgen.genetics.species.canonical_species`.
    """
    with open(TABLE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ancestor = {r["Species"]: r["Ancestor"] for r in rows}
    start = {r["Species"]: float(r["Start_date"]) for r in rows}
    tips = [r["Species"] for r in rows if float(r["End_date"]) == 0.0]
    ages = budding_divergence_ages(ancestor, start, tips)
    ages.setflags(write=False)  # cached: shared by every caller
    return ages, tuple(canonical_species(t, SYNONYMS) for t in tips)


def split_ages(all_species: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Split ages (Ma) over ``all_species``, with the species the tree lacks placed; see the module constants.

    Returns:
        ``(ages [N, N], placed)``: ``placed`` lists the species of ``all_species`` not in the tree, in order.

    Raises:
        KeyError: a species is neither in the tree nor in ``SISTERS`` / ``AT_ROOT``.
    """
    tree_ages, tips = extant_tree()
    index = {t: i for i, t in enumerate(tips)}
    placed = [s for s in all_species if s not in index]
    for s in placed:
        if s not in SISTERS and s not in AT_ROOT:
            raise KeyError(
                f"{s} is not in the Aze et al. tree and has no documented place in SISTERS or AT_ROOT"
            )
    # A species' proxy: the tip whose history it copies (itself, its sister's tip, or its own root lineage).
    proxy: list[str] = []
    for s in all_species:
        while s in SISTERS:
            s = SISTERS[s]
        proxy.append(s)
    # The root: the oldest split among the tips in use, so that tips have depth 1 and the deepest pair shares 0.
    covered = sorted({index[p] for p in proxy if p in index})
    ages_in = tree_ages[np.ix_(covered, covered)]
    root = float(ages_in.max())
    recent = float(np.quantile(ages_in[np.triu_indices_from(ages_in, 1)], SISTER_QUANTILE))
    n = len(all_species)
    ages = np.full((n, n), root)
    for i in range(n):
        for j in range(n):
            a, b = proxy[i], proxy[j]
            if a in index and b in index:
                ages[i, j] = tree_ages[index[a], index[b]]
    for i in range(n):
        for j in range(n):
            if i != j and proxy[i] == proxy[j]:
                # The placed pair splits recently, always after the proxy's own youngest split, so that the
                # pair stays sisters; its split age is positive, so the two are distinct species.
                others = [ages[i, k] for k in range(n) if proxy[k] != proxy[i]]
                ages[i, j] = min(recent, 0.5 * min(others, default=root))
    np.fill_diagonal(ages, 0.0)
    return ages, placed


@TREES.register("aze2011")
def aze_tree(all_species: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """``(C [N, N] with unit tip depth, the species placed by SISTERS / AT_ROOT)`` over ``all_species``."""
    ages, placed = split_ages(all_species)
    return covariance_from_split_ages(ages), placed
