"""Oracle anchors are what ForamSim itself draws from; the equiangular control is a regular simplex."""

from __future__ import annotations

import numpy as np

from visgen.genetics.anchors import equiangular_anchors
from visgen.genetics.species import known_species
from visgen.sim.forams_sim import species_latents
from visgen.sim.oracle import oracle_anchors
from visgen.sim.trees import kmer_upgma

DNA = known_species()[1]


def test_trait_oracle_rows_are_the_generators_latent_traits_of_each_class() -> None:
    names, latents = species_latents(3, 0.5)
    got = oracle_anchors("oracle_traits", DNA[:5], seed=3, phylo_signal=0.5, intra_spread=0.3)
    np.testing.assert_array_equal(got, latents[[names.index(n) for n in DNA[:5]]])


def test_tree_oracle_has_the_tree_covariance_as_its_gram_matrix() -> None:
    names = species_latents(0, 1.0)[0]
    cov, _, _ = kmer_upgma.species_covariance(names)
    rows = [names.index(n) for n in DNA]
    got = oracle_anchors("oracle_tree", DNA, seed=0, phylo_signal=1.0, intra_spread=0.3)
    np.testing.assert_allclose(got @ got.T, cov[np.ix_(rows, rows)], atol=1e-9)


def test_equiangular_anchors_are_unit_vectors_with_cosine_minus_one_over_n_minus_one() -> None:
    a = equiangular_anchors(6, 6, seed=None)
    np.testing.assert_allclose(a, (np.eye(6) - 1 / 6) * np.sqrt(6 / 5))  # the rows of the centred identity
    cos = a @ a.T
    np.testing.assert_allclose(np.diag(cos), 1.0)
    np.testing.assert_allclose(cos[~np.eye(6, dtype=bool)], -1 / 5)
