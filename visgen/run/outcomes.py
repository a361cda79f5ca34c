"""The species distances that say where a run's errors land (``visgen.eval.mistakes``), built from the config.

Real images come with no species tree (their layout knows none), so the taxonomy (1 within a genus, 2 across)
stands in for it. ForamSim's species traits evolve along a known tree, so its errors are measured along that
tree: the patristic distance on the generator's tree, built over all of ForamSim's species as the generator
builds it (a tree rebuilt over a subset of the classes could join them differently).
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig

from visgen.data.layouts import LAYOUTS
from visgen.eval.mistakes import SpeciesDistances, tree_distances
from visgen.genetics.species import species_table


def species_distances(cfg: DictConfig, class_names: Sequence[str]) -> SpeciesDistances:
    """The distances between ``class_names`` for the run's data: along the species tree when the data layout knows
    one (ForamSim's generator tree), else the taxonomy."""
    tree = LAYOUTS.get(str(cfg.data.source)).species_tree(cfg.data)
    if tree is None:
        return SpeciesDistances.by_taxonomy(class_names)
    name, covariance = tree
    # The generator draws the traits of every species of the class table along one tree (visgen.sim.forams_sim).
    species = [s for s, _ in species_table()]
    return tree_distances(class_names, covariance, species, source=name)
