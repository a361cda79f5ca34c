"""Convergent evolution for ForamSim: rare species that look like a genetically distant, common species.

Under the phylogenetic coupling alone, species that look alike are close relatives, so their genetic
anchors are close too, and an alignment to the anchors cannot separate what the images confuse. Real
foraminifera also show convergence (similar shells in distant lineages). ``convergent = K`` models it
for the K rarest species: each takes the latent traits (and the published morphology) of a common,
genetically distant partner, offset by ``CONVERGENT_OFFSET * intra_spread`` per trait — a look-alike
that differs from its partner by about half a specimen's own spread. Their DNA, hence their genetic
anchors, stay where the 18S tree puts them. This is the setting in which genetic anchors carry
information the images lack.

Pairing (deterministic, pure numpy): the look-alikes are the K with the fewest real images among the
species that have DNA (ties: table order), after skipping the ``skip`` rarest — ``skip`` > 0 makes
look-alikes of medium species, which have enough training images not to be simply outvoted; each, rarest
first, is paired with the species among the ``N_PARTNERS`` largest that shares the least tree covariance
with it (the most distant; ties: the larger), every partner used once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Partners are drawn from this many of the largest species.
N_PARTNERS = 8
#: A look-alike's offset from its partner, per latent trait, in units of ``intra_spread``.
CONVERGENT_OFFSET = 0.5


def convergent_pairs(
    names: Sequence[str],
    counts: Sequence[int],
    cov: np.ndarray,
    k: int,
    eligible: Sequence[str],
    skip: int = 0,
) -> dict[str, str]:
    """Choose ``k`` (look-alike species -> common, distant partner) pairs.

    Args:
        names: all species, in the order of ``counts`` and ``cov``.
        counts: real images per species.
        cov: ``[N, N]`` tree covariance (shared path from the root; 0 = most distant).
        k: number of pairs, ``0 <= k <= min(len(eligible) - N_PARTNERS - skip, N_PARTNERS)``.
        eligible: the species that can take part (those with DNA, i.e. the image classes).
        skip: the look-alikes start after this many of the rarest eligible species.

    Returns:
        ``{look_alike: partner}``, rarest first.

    Raises:
        ValueError: ``k`` or ``skip`` out of range.
    """
    allowed = set(eligible)
    pool = [i for i, s in enumerate(names) if s in allowed]
    if not 0 <= skip <= len(pool) - N_PARTNERS:
        raise ValueError(f"skip must lie in [0, {len(pool) - N_PARTNERS}], got {skip}")
    limit = min(len(pool) - N_PARTNERS - skip, N_PARTNERS)
    if not 0 <= k <= limit:
        raise ValueError(f"convergent pairs must lie in [0, {limit}], got {k}")
    by_size = sorted(pool, key=lambda i: (-counts[i], i))
    partners = by_size[:N_PARTNERS]
    rare = sorted(pool, key=lambda i: (counts[i], i))[skip : skip + k]
    pairs: dict[str, str] = {}
    free = list(partners)
    for r in rare:
        best = min(free, key=lambda p: (cov[r, p], -counts[p], p))
        free.remove(best)
        pairs[names[r]] = names[best]
    return pairs


def converge_latents(
    latents: np.ndarray,
    names: Sequence[str],
    pairs: dict[str, str],
    intra_spread: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Latents with each rare species moved next to its partner: ``partner + offset * N(0, I)``.

    Args:
        latents: ``[N, T]`` species traits (not modified).
        names: species in row order.
        pairs: ``{rare_species: partner}`` from ``convergent_pairs``.
        intra_spread: the specimen spread; the offset is ``CONVERGENT_OFFSET * intra_spread``.
        rng: draws the offsets (one ``[T]`` vector per pair, in ``pairs`` order).

    Returns:
        ``[N, T]`` float64; rows of species outside ``pairs`` are unchanged.
    """
    index = {s: i for i, s in enumerate(names)}
    out = latents.copy()
    for rare, partner in pairs.items():
        noise = rng.standard_normal(latents.shape[1])
        out[index[rare]] = latents[index[partner]] + CONVERGENT_OFFSET * intra_spread * noise
    return out
