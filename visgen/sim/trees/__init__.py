"""Tree sources for ForamSim: one module per source of the species tree the traits evolve along.

A source is one file in this folder, named after the source, whose builder is decorated with
``@TREES.register("<file name>")``: a function from the species list to ``(C [N, N], placed)``, the shared-path
covariance (symmetric, PSD, unit tip depth) and the species the source does not cover, placed next to a documented
relative. The ``data.sim_tree`` / ``--tree`` choices and the contract test (tests/sim/test_tree_sources.py)
therefore pick a new file up with no other edit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from visgen.registry import Registry

TreeSource = Callable[[Sequence[str]], tuple[np.ndarray, list[str]]]
# Lazy: the sources import scipy (tree arithmetic), and the CLI's start-up lists the choices (``TREES.names()``,
# the file names) without building any tree, so listing must not import them; ``TREES.get(name)`` imports one.
TREES: Registry[TreeSource] = Registry("tree source", "data.sim_tree", __name__, lazy=True)
# The tree ForamSim has always used: its default keeps every image byte-identical.
DEFAULT = "kmer_upgma"


def species_covariance(tree: str, all_species: Sequence[str]) -> np.ndarray:
    """The ``[N, N]`` shared-path covariance of tree source ``tree`` over ``all_species`` (in that order)."""
    return TREES.get(tree)(all_species)[0]
