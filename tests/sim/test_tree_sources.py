"""Every registered ForamSim tree source is a valid Brownian-motion covariance over the 35 species."""

from __future__ import annotations

import pkgutil

import numpy as np
import pytest

from visgen.errors import UserInputError
from visgen.genetics.species import species_table
from visgen.sim import trees

SPECIES = [s for s, _ in species_table()]


def test_every_module_in_the_trees_folder_is_a_source_registered_under_its_file_name() -> None:
    modules = {m.name for m in pkgutil.iter_modules(trees.__path__)}
    assert set(trees.TREES.names()) == modules and {"kmer_upgma", "aze2011"} <= modules
    for name in modules:
        assert trees.TREES.get(name).__module__ == f"visgen.sim.trees.{name}"
    assert trees.DEFAULT == "kmer_upgma"


@pytest.mark.parametrize("name", trees.TREES.names())
def test_tree_covariance_is_symmetric_psd_with_unit_diagonal_and_deterministic(name: str) -> None:
    cov, placed = trees.TREES.get(name)(SPECIES)
    assert cov.shape == (35, 35)
    np.testing.assert_array_equal(cov, cov.T)
    np.testing.assert_array_equal(np.diag(cov), 1.0)
    assert np.linalg.eigvalsh(cov).min() > -1e-10
    # Shared path from the root with unit tip depth: between 0 (split at the root) and 1, and some pair splits
    # at the root.
    assert cov.min() == pytest.approx(0.0, abs=1e-12) and cov.max() <= 1.0
    assert set(placed) <= set(SPECIES)
    again, placed_again = trees.TREES.get(name)(SPECIES)
    np.testing.assert_array_equal(cov, again)
    assert placed == placed_again
    np.testing.assert_array_equal(trees.species_covariance(name, SPECIES), cov)


@pytest.mark.parametrize("name", trees.TREES.names())
def test_a_subset_of_species_gets_rows_of_the_same_tree_order(name: str) -> None:
    # The covariance follows the order of the list asked for.
    cov = trees.species_covariance(name, SPECIES)
    order = SPECIES[::-1]
    np.testing.assert_allclose(trees.species_covariance(name, order), cov[::-1, ::-1])


def test_an_unknown_tree_is_refused() -> None:
    with pytest.raises(
        UserInputError, match=r"^data\.sim_tree='nj': unknown tree source; use one of aze2011, kmer_upgma"
    ):
        trees.species_covariance("nj", SPECIES)


def test_a_name_is_registered_once() -> None:
    trees.TREES.get("kmer_upgma")
    with pytest.raises(ValueError, match="registered twice"):
        trees.TREES.register("kmer_upgma")(lambda s: (np.eye(len(s)), []))
