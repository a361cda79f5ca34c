"""The 18S tree and Brownian-motion traits: checked against hand-built trees and the shipped tables."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from visgen.genetics import divergence, trees
from visgen.genetics.species import species_table
from visgen.resources import data_path
from visgen.sim import traits
from visgen.sim.trees import kmer_upgma


def test_kmer_profile_counts_by_hand() -> None:
    # "acgtnac", k=2: windows ac cg gt (tn, na skipped) ac -> ac twice, cg once, gt once.
    prof = divergence.kmer_profile("acgtnac", k=2)
    code = {b: i for i, b in enumerate("acgt")}
    expected = np.zeros(16)
    for kmer, n in {"ac": 2, "cg": 1, "gt": 1}.items():
        expected[4 * code[kmer[0]] + code[kmer[1]]] = n / 4
    np.testing.assert_allclose(prof, expected)


def test_sequences_join_the_real_image_classes() -> None:
    seqs = divergence.read_sequences_by_species()
    with open(data_path("endless_forams_classes.csv"), newline="") as fh:
        table = {r["species"]: int(r["n_18S_sequences_join_table"]) for r in csv.DictReader(fh)}
    # The published join: 32 species, 804 sequences, per-species counts as in the classes table.
    assert {s: len(v) for s, v in seqs.items()} == {s: n for s, n in table.items() if n > 0}
    assert sum(map(len, seqs.values())) == 804


def test_tree_covariance_of_a_known_tree() -> None:
    # Ultrametric tree ((a:1,b:1):4,(c:2,d:2):3), root height 5: cophenetic a-b 2, c-d 4, across 10.
    d = np.array([[0, 2, 10, 10], [2, 0, 10, 10], [10, 10, 0, 4], [10, 10, 4, 0]], dtype=float)
    expected = np.array([[1, 0.8, 0, 0], [0.8, 1, 0, 0], [0, 0, 1, 0.6], [0, 0, 0.6, 1]])
    np.testing.assert_allclose(trees.tree_covariance(d), expected)


def test_pagel_lambda_interpolates_tree_and_star() -> None:
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    np.testing.assert_allclose(traits.pagel_lambda(cov, 0.0), np.eye(2))
    np.testing.assert_allclose(traits.pagel_lambda(cov, 1.0), cov)
    np.testing.assert_allclose(traits.pagel_lambda(cov, 0.5), [[1.0, 0.4], [0.4, 1.0]])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        traits.pagel_lambda(cov, 1.5)


def test_brownian_traits_have_the_tree_covariance() -> None:
    cov = np.array([[1, 0.8, 0, 0], [0.8, 1, 0, 0], [0, 0, 1, 0.6], [0, 0, 0.6, 1]])
    x = traits.brownian_traits(cov, 40000, np.random.default_rng(0))
    np.testing.assert_allclose(x @ x.T / x.shape[1], cov, atol=0.03)


def test_missing_species_sit_next_to_their_documented_sister() -> None:
    names = [s for s, _ in species_table()]
    dist, with_dna = divergence.genetic_distances(names)
    assert len(with_dna) == 32
    assert set(names) - set(with_dna) == set(kmer_upgma.NO_DNA_SISTERS)
    full = kmer_upgma.place_missing(dist, with_dna, names)
    np.testing.assert_allclose(full, full.T)
    for missing, sister in kmer_upgma.NO_DNA_SISTERS.items():
        i, j = names.index(missing), names.index(sister)
        others = [k for k in range(len(names)) if k not in (i, j)]
        np.testing.assert_allclose(full[i, others], full[j, others])
        assert 0 < full[i, j] < min(full[i, others])
    cov = trees.tree_covariance(full)
    for missing, sister in kmer_upgma.NO_DNA_SISTERS.items():
        i, j = names.index(missing), names.index(sister)
        # The sister pair shares (almost) its whole history: the largest covariance in the row.
        assert cov[i, j] == max(np.delete(cov[i], i))


def test_genetic_distances_group_congeners() -> None:
    names = [s for s, _ in species_table()]
    dist, with_dna = divergence.genetic_distances(names)
    # A biological sanity check of the alignment-free distance: in the 18S data, each species' nearest
    # species is a well-known close relative (same genus, or Pulleniatina within the Neogloboquadrinidae).
    for a, b in [
        ("Globorotalia_tumida", "Globorotalia_ungulata"),
        ("Globigerinella_siphonifera", "Globigerinella_calida"),
        ("Candeina_nitida", "Globigerinita_glutinata"),
        ("Neogloboquadrina_dutertrei", "Pulleniatina_obliquiloculata"),
        ("Globoturborotalita_tenella", "Globigerinoides_elongatus"),
    ]:
        i, j = with_dna.index(a), with_dna.index(b)
        assert np.argsort(dist[i])[1] == j
