"""The species distances that say where a run's errors land (``visgen.eval.mistakes``), built from the config.

Real images (``data.source=folder``) come with no species tree, so the taxonomy (1 within a genus, 2 across)
stands in for it. ForamSim's species traits evolve along a known tree, so its errors are measured along that
tree: the patristic distance on the generator's tree, built over all of ForamSim's species as the generator
builds it (a tree rebuilt over a subset of the classes could join them differently).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from omegaconf import DictConfig

from visgen.errors import UserInputError
from visgen.eval.mistakes import SpeciesDistances, tree_distances
from visgen.genetics.species import species_table

#: The ForamSim tree source the generator uses when the config names none.
DEFAULT_SIM_TREE = "kmer_upgma"


def species_distances(cfg: DictConfig, class_names: Sequence[str]) -> SpeciesDistances:
    """The distances between ``class_names`` for the run's data (taxonomy on real images, the generator's tree
    on ForamSim)."""
    if cfg.data.get("source", "forams_sim") == "folder":
        return SpeciesDistances.by_taxonomy(class_names)
    name, covariance = generator_tree(cfg)
    # The generator draws the traits of every species of the class table along one tree (visgen.sim.forams_sim).
    species = [s for s, _ in species_table()]
    return tree_distances(class_names, covariance, species, source=name)


def generator_tree(cfg: DictConfig) -> tuple[str, Callable[[list[str]], np.ndarray]]:
    """The name and the covariance function (species -> shared-path covariance, unit tip depth) of the tree
    ForamSim's traits evolve along.

    Raises:
        UserInputError: ``data.sim_tree`` names a tree this measurement does not know.
    """
    name = str(cfg.data.get("sim_tree") or DEFAULT_SIM_TREE)
    if name != DEFAULT_SIM_TREE:
        raise UserInputError(
            f"data.sim_tree={name!r}: the error tree distance knows only the {DEFAULT_SIM_TREE!r} tree; "
            f"add the source to visgen/run/outcomes.py:generator_tree or use data.sim_tree={DEFAULT_SIM_TREE}"
        )
    from visgen.sim.trees import kmer_upgma

    return name, lambda names: kmer_upgma.species_covariance(names)[0]
