"""Tree sources for ForamSim: one module per source of the species tree the traits evolve along.

A source is one file in this folder whose builder is decorated with ``@register("<name>")``: a function from
the species list to ``(C [N, N], placed)``, the shared-path covariance (symmetric, PSD, unit tip depth) and the
species the source does not cover, placed next to a documented relative. Every module here is imported below, so
the registry, the ``data.sim_tree`` / ``--tree`` choices and the contract test (tests/sim/test_tree_sources.py)
pick a new file up with no other edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence

import numpy as np

TreeSource = Callable[[Sequence[str]], tuple[np.ndarray, list[str]]]
TREES: dict[str, TreeSource] = {}
# The tree ForamSim has always used: its default keeps every image byte-identical.
DEFAULT = "kmer_upgma"


def register(name: str) -> Callable[[TreeSource], TreeSource]:
    """Decorator: ``@register("aze2011")`` makes the builder the tree source of that name."""

    def add(fn: TreeSource) -> TreeSource:
        if name in TREES:
            raise ValueError(f"tree source {name!r} is registered twice")
        TREES[name] = fn
        return fn

    return add


def species_covariance(tree: str, all_species: Sequence[str]) -> np.ndarray:
    """The ``[N, N]`` shared-path covariance of tree source ``tree`` over ``all_species`` (in that order)."""
    if tree not in TREES:
        raise ValueError(f"tree must be one of {', '.join(sorted(TREES))}, got {tree!r}")
    return TREES[tree](all_species)[0]


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
