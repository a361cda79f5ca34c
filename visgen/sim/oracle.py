"""Oracle anchors for ForamSim: what the generator itself knows about each species (positive controls).

``traits``: the latent shell traits the generator drew for each species (Brownian motion on the generator's tree
blended with noise by Pagel's lambda, then the convergent look-alikes if any): the best anchor there can be,
informative at any lambda. ``tree``: rows of the symmetric square root of the tree covariance C the generator
draws the traits from (before lambda), so that the linear kernel on these anchors is C itself: the genetic
information in its cleanest form, informative only as far as the traits follow the tree (lambda > 0).
They exist only for ForamSim: a real image folder has no generator to ask.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visgen.sim import trees

ORACLES: tuple[str, ...] = ("oracle_traits", "oracle_tree")


def oracle_anchors(
    kind: str,
    class_names: Sequence[str],
    *,
    seed: int,
    phylo_signal: float,
    intra_spread: float,
    convergent: int = 0,
    convergent_skip: int = 0,
    tree: str = trees.DEFAULT,
) -> np.ndarray:
    """Oracle anchors [C, A] for ``class_names`` (A = number of traits for ``traits``, 35 for ``tree``).

    Args:
        kind: ``"oracle_traits"`` or ``"oracle_tree"``.
        class_names: the data module's species, in label order (all must be ForamSim species).
        seed, phylo_signal, intra_spread, convergent, convergent_skip, tree: the ForamSim settings of the data
            (``tree``: the tree source the generator drew the traits along, ``visgen.sim.trees.TREES.names()``).
    """
    from visgen.sim.forams_sim import convergent_species, species_latents

    names, latents = species_latents(seed, phylo_signal, tree)
    rows = [names.index(n) for n in class_names]
    if kind == "oracle_traits":
        latents, _ = convergent_species(seed, names, latents, convergent, intra_spread, convergent_skip, tree)
        return latents[rows]
    if kind == "oracle_tree":
        cov = trees.species_covariance(tree, names)
        vals, vecs = np.linalg.eigh(cov)
        root = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T  # symmetric sqrt: root @ root.T == cov
        return root[rows]
    raise ValueError(f"oracle must be one of {ORACLES}, got {kind!r}")
