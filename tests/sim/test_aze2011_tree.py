"""The Aze et al. 2011 fossil tree: extant tips, budding split ages by hand, tip depth, names, placed species."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from visgen.genetics import trees
from visgen.genetics.species import species_table
from visgen.sim.trees import aze2011

SPECIES = [s for s, _ in species_table()]


def _rows() -> list[dict[str, str]]:
    with open(aze2011.TABLE, newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_shipped_table_is_the_papers_339_morphospecies_with_41_extant() -> None:
    rows = _rows()
    extant = [r["Species"] for r in rows if r["End_date"] in ("0", "0.0")]
    assert len(rows) == 339 and len(extant) == 41
    ages, tips = aze2011.extant_tree()
    assert len(tips) == len(extant) and ages.shape == (41, 41)


def test_budding_split_ages_of_a_hand_built_tree() -> None:
    # R (start 10) lives on; A buds off R at 6, B off A at 2, C off R at 4. A and C leave R at 6 and 4: they
    # share R until 6. B and C: B's chain reaches R through A, leaving R at 6.
    ancestor = {"R": None, "A": "R", "B": "A", "C": "R"}
    start = {"R": 10.0, "A": 6.0, "B": 2.0, "C": 4.0}
    ages = trees.budding_divergence_ages(ancestor, start, ["R", "A", "B", "C"])
    expected = np.array([[0, 6, 6, 4], [6, 0, 2, 6], [6, 2, 0, 6], [4, 6, 6, 0]], dtype=float)
    np.testing.assert_array_equal(ages, expected)
    # Unit tip depth below the oldest split (6): shared path (6 - age) / 6.
    np.testing.assert_allclose(trees.covariance_from_split_ages(ages), (6 - expected) / 6)


def test_budding_refuses_a_looping_chain_and_disconnected_tips() -> None:
    with pytest.raises(ValueError, match="loops"):
        trees.budding_divergence_ages({"A": "B", "B": "A"}, {"A": 1.0, "B": 2.0}, ["A", "B"])
    with pytest.raises(ValueError, match="share no ancestor"):
        trees.budding_divergence_ages({"A": None, "B": None}, {"A": 1.0, "B": 2.0}, ["A", "B"])


def test_a_budded_sister_splits_at_its_start_date() -> None:
    # Globorotalia ungulata buds off G. tumida (both extant): they split at ungulata's Start_date.
    start = {r["Species"]: float(r["Start_date"]) for r in _rows()}
    ages, _ = aze2011.split_ages(SPECIES)
    i, j = SPECIES.index("Globorotalia_tumida"), SPECIES.index("Globorotalia_ungulata")
    assert ages[i, j] == start["Globorotalia_ungulata"] == 4.9


def test_sisters_share_more_path_than_a_cross_genus_pair() -> None:
    cov, _ = aze2011.aze_tree(SPECIES)
    c = {(a, b): cov[SPECIES.index(a), SPECIES.index(b)] for a in SPECIES for b in SPECIES}
    assert (
        c["Globorotalia_menardii", "Globorotalia_tumida"]
        > c["Globorotalia_menardii", "Globigerinoides_ruber"]
    )
    assert (
        c["Globigerinoides_ruber", "Globigerinoides_conglobatus"]
        > c["Globigerinoides_ruber", "Globorotalia_tumida"]
    )


def test_tips_have_depth_one_below_the_oldest_split_of_the_species_in_use() -> None:
    ages, _ = aze2011.split_ages(SPECIES)
    cov, _ = aze2011.aze_tree(SPECIES)
    np.testing.assert_array_equal(np.diag(ages), 0.0)
    np.testing.assert_allclose(cov, 1 - ages / ages.max())
    assert cov.min() == 0.0 and np.all(np.diag(cov) == 1.0)


# The ForamSim species the Aze tree holds, read off foramAM.csv by hand (28 of 35), and the 7 it lacks.
IN_TREE = {
    "Globigerinoides_ruber", "Globigerinoides_sacculifer", "Neogloboquadrina_pachyderma", "Globigerina_bulloides",
    "Globorotalia_inflata", "Globorotalia_menardii", "Globorotalia_truncatulinoides", "Globigerinella_siphonifera",
    "Neogloboquadrina_dutertrei", "Globigerinoides_conglobatus", "Pulleniatina_obliquiloculata",
    "Globigerina_falconensis", "Globorotalia_scitula", "Orbulina_universa", "Turborotalita_quinqueloba",
    "Globorotalia_crassaformis", "Globorotalia_hirsuta", "Globoturborotalita_rubescens",
    "Globoturborotalita_tenella", "Sphaeroidinella_dehiscens", "Globorotalia_tumida", "Globigerinella_calida",
    "Globoquadrina_conglomerata", "Turborotalita_humilis", "Globorotaloides_hexagonus", "Beella_digitata",
    "Globorotalia_ungulata", "Globigerinella_adamsi",
}  # fmt: skip
PLACED = [
    "Globigerinita_glutinata", "Neogloboquadrina_incompta", "Globigerinoides_elongatus", "Candeina_nitida",
    "Hastigerina_pelagica", "Tenuitella_iota", "Globigerinita_uvula",
]  # fmt: skip


def test_names_map_through_the_documented_synonyms() -> None:
    _, tips = aze2011.extant_tree()
    assert set(tips) & set(SPECIES) == IN_TREE
    # e.g. Aze's Truncorotalia truncatulinoides is the image set's Globorotalia truncatulinoides.
    raw = [r["Species"] for r in _rows() if float(r["End_date"]) == 0]
    assert tips[raw.index("Truncorotalia_truncatulinoides")] == "Globorotalia_truncatulinoides"
    assert set(aze2011.SYNONYMS) <= set(raw) and set(aze2011.SYNONYMS.values()) <= set(SPECIES)


def test_species_outside_the_tree_are_placed_and_listed() -> None:
    ages, placed = aze2011.split_ages(SPECIES)
    assert placed == PLACED
    idx = SPECIES.index
    ruber, elong = idx("Globigerinoides_ruber"), idx("Globigerinoides_elongatus")
    others = [k for k in range(35) if k not in (ruber, elong)]
    # A placed sister copies its sister's splits with everyone else and splits from it more recently than any.
    np.testing.assert_array_equal(ages[elong, others], ages[ruber, others])
    assert 0 < ages[ruber, elong] < ages[ruber, others].min()
    # The microperforates and Hastigerina share nothing with the macroperforates: they split at the root.
    root = ages.max()
    for s in aze2011.AT_ROOT:
        assert all(ages[idx(s), k] == root for k in range(35) if SPECIES[k] not in (s, "Globigerinita_uvula"))


def test_a_species_with_no_documented_place_is_refused() -> None:
    with pytest.raises(KeyError, match="Foo_bar is not in the Aze"):
        aze2011.split_ages([*SPECIES, "Foo_bar"])
