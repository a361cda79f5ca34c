"""The parts a data set's own partitions play in the unseen-species (GZSL) stage, as a layout declares them.

Some data sets publish their unseen species with their images already cut into a key set and query sets
(BIOSCAN-5M: ``key_unseen``, ``val_unseen``, ``test_unseen``, plus ``other_heldout`` species outside seen and
unseen). A layout that has such partitions says so in ``LayoutFacts.partition_roles``; the data module then
takes its GZSL targets and their ``support`` images from the partitions instead of from visgen's
leave-species-out folds, and nothing outside the layout compares a layout's name. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The role of an image outside visgen's three splits: a query from a species outside seen and unseen.
NOVEL = "novel"


@dataclass(frozen=True)
class PartitionRoles:
    """Which partitions hold the unseen species' keys, their validation and test queries, and the novel species.

    Attributes:
        support: the unseen species' key images: their k-shot support and the retrieval key set (they play the
            part a target's withheld training images play in a fold, so ``data.shots`` keeps the first k in train).
        validation: the unseen species' validation queries. Withheld from every split, as a fold's targets
            lose their validation images: the GZSL stage fits its head and kappa on the seen species only and
            selects nothing on unseen queries, so scoring them would only be a second test set.
        queries: the unseen species' test queries (scored with the seen species' test images).
        novel: species that are neither seen nor unseen: novelty queries only, never targets.
    """

    support: tuple[str, ...]
    validation: tuple[str, ...]
    queries: tuple[str, ...]
    novel: tuple[str, ...]

    @property
    def unseen(self) -> tuple[str, ...]:
        """Every partition whose species are the targets."""
        return (*self.support, *self.validation, *self.queries)

    def describe(self) -> str:
        """One phrase for messages: which partition plays which part."""
        parts = [(self.support, "support"), (self.validation, "withheld"), (self.queries, "unseen queries"),
                 (self.novel, "novelty queries")]  # fmt: skip
        return ", ".join(f"{p} ({role})" for names, role in parts for p in names)

    def targets(self, partitions: np.ndarray, labels: np.ndarray, class_names: list[str]) -> list[str]:
        """The species (in class order) with an image in an unseen partition.

        Args:
            partitions: str [N], each image's partition; labels: int [N] into ``class_names``.
        """
        hit = set(labels[np.isin(partitions, self.unseen)].tolist())
        return [name for c, name in enumerate(class_names) if c in hit]

    def splits(self, partitions: np.ndarray, splits: np.ndarray) -> np.ndarray:
        """Each image's split by its role: support -> ``train`` (the targets' pool), validation -> ``val``,
        queries -> ``test``, novel -> ``novel``; images of other partitions keep ``splits``.

        Args:
            partitions: str [N]; splits: str [N], the layout's mapping of the partitions.

        Returns:
            str [N] (object array).
        """
        out = np.asarray(splits, dtype=object).copy()
        for names, role in ((self.support, "train"), (self.validation, "val"), (self.queries, "test"),
                            (self.novel, NOVEL)):  # fmt: skip
            out[np.isin(partitions, names)] = role
        return out
