"""The GZSL cell scored as retrieval, in the peers' format (CLIBD / BIOSCAN-5M): image->image and image->DNA.

For one method's space of one anchor set (``gzsl_score.MethodSpace``) the test images of the seen and target
species are the queries (seen / unseen by species), and ``retrieval.retrieval_accuracy`` scores them against

- ``image`` keys: the seen species' training images and the targets' withheld images (BIOSCAN-5M's unseen
  key set: images that trained nothing but are labelled), embedded in the method's space;
- ``dna`` keys: one per seen or target species, its DNA-only prototype (``MethodSpace.dna``: the ridge map of
  its anchor, fitted on the seen species, or its unit anchor).

Each method retrieves with the distance it scores by: squared Euclidean for ridge (the pretrained embedding),
cosine for aligned (the head's unit sphere). Keys are ``<image|dna>/<slot>/<method>/<subset>/<level>/<avg>_top<k>``
(the stage prefixes ``test/retrieval/``); ``slot`` is the anchor set, or ``images`` for a method whose image
space does not depend on it (``ANCHOR_FREE_IMAGES``). Pure numpy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from visgen.eval.gzsl_score import CellFeatures, MethodSpace
from visgen.eval.retrieval import retrieval_accuracy

log = logging.getLogger(__name__)

#: Methods that score in the pretrained embedding, the same for every anchor set: their image->image retrieval
#: is one number per cell, stored under the slot ``images``. The aligned head is refitted per anchor set, so its
#: image->image retrieval is stored under the anchor's name.
ANCHOR_FREE_IMAGES: frozenset[str] = frozenset({"ridge"})
IMAGES_SLOT = "images"


def retrieval_metric(space: MethodSpace) -> str:
    """The distance a method's prototypes are scored by: cosine on the unit sphere, else Euclidean."""
    return "cosine" if space.unit else "euclidean"


def cell_retrieval(
    cell: CellFeatures,
    space: MethodSpace,
    anchor: str,
    method: str,
    genus: Sequence[object] | np.ndarray,
    *,
    images: bool = True,
    ks: Sequence[int] = (1, 5),
) -> dict[str, float]:
    """Image->DNA (and, with ``images``, image->image) retrieval of one cell in one method's space.

    Args:
        cell: the cell's labels, seen species and targets.
        space: the method's embedded images and DNA keys for ``anchor``.
        anchor: the anchor set's name; method: ``ridge`` / ``aligned``.
        genus: [C] the genus of each class (``visgen.eval.mistakes.genus_ids``).
        images: also score image->image (the stage asks once per cell for ``ANCHOR_FREE_IMAGES`` methods).
        ks: the top-k values.

    Returns:
        ``{"<image|dna>/<slot>/<method>/<seen|unseen>/<species|genus>/<micro|macro>_top<k>": value,
        ".../<seen|unseen>/n_queries": n}``.
    """
    listed = [*cell.seen, *cell.targets]
    rows = np.isin(cell.test_y, listed)
    if not rows.all():  # classes neither seen nor held out (none under data.classes=dna): no key to find
        log.info(
            "gzsl retrieval: skipped %d test images of species neither seen nor targets", int((~rows).sum())
        )
    queries, labels = space.test[rows], cell.test_y[rows]
    metric = retrieval_metric(space)
    found = {
        ("dna", anchor): retrieval_accuracy(
            queries, labels, space.dna[listed], np.asarray(listed), genus, cell.seen, ks=ks, metric=metric
        )
    }
    if images:
        keys = np.concatenate([space.train, space.support])
        key_labels = np.concatenate([cell.train_y, cell.support_y])
        slot = IMAGES_SLOT if method in ANCHOR_FREE_IMAGES else anchor
        found["image", slot] = retrieval_accuracy(
            queries, labels, keys, key_labels, genus, cell.seen, ks=ks, metric=metric
        )
    return {
        f"{kind}/{slot}/{method}/{key}": v for (kind, slot), res in found.items() for key, v in res.items()
    }
