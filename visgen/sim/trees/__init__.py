"""Tree sources for ForamSim: one module per source of the species tree the traits evolve along.

A source is one file in this folder, named after the source, whose builder is decorated with
``@register("<file name>")``: a function from the species list to ``(C [N, N], placed)``, the shared-path
covariance (symmetric, PSD, unit tip depth) and the species the source does not cover, placed next to a documented
relative. ``names()`` lists the files without importing them (so ``visgen``'s start-up does not pay for scipy), and
``source(name)`` imports one on first use; the ``data.sim_tree`` / ``--tree`` choices and the contract test
(tests/sim/test_tree_sources.py) therefore pick a new file up with no other edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence

import numpy as np

TreeSource = Callable[[Sequence[str]], tuple[np.ndarray, list[str]]]
TREES: dict[str, TreeSource] = {}  # filled by ``register`` as the source modules are imported
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


def names() -> list[str]:
    """Every tree source, sorted: the modules of this folder."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__))


def source(name: str) -> TreeSource:
    """The builder of tree source ``name`` (its module is imported on first use).

    Raises:
        ValueError: no such source, or its module registers no builder under its own name.
    """
    if name not in names():
        raise ValueError(f"tree must be one of {', '.join(names())}, got {name!r}")
    importlib.import_module(f"{__name__}.{name}")
    if name not in TREES:
        raise ValueError(f"visgen/sim/trees/{name}.py registers no builder as @register({name!r})")
    return TREES[name]


def species_covariance(tree: str, all_species: Sequence[str]) -> np.ndarray:
    """The ``[N, N]`` shared-path covariance of tree source ``tree`` over ``all_species`` (in that order)."""
    return source(tree)(all_species)[0]
