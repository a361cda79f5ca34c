"""The one interface of a data layout: a data source in, an :class:`ImageIndex` out.

A layout knows how one kind of data set lies on disk (one folder per species; a metadata table with image
paths; a generator that writes folders on demand). The data module, ``visgen data check`` and the config check
talk to every layout through this class only, so a new layout is one module here plus one ``conf/data`` file,
and no code outside this package compares a layout's name: what callers need to know about a source is in its
:class:`LayoutFacts`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from visgen.data.layouts.index import ImageIndex
from visgen.data.layouts.roles import PartitionRoles
from visgen.registry import Registry

#: species -> their shared-path covariance [S, S] on a tree (unit tip depth).
SpeciesCovariance = Callable[[list[str]], "np.ndarray"]


@dataclass(frozen=True)
class LayoutFacts:
    """What the rest of visgen may ask of a layout instead of comparing its name.

    Attributes:
        synthetic: the images come from a generator (reports and run records say SYNTHETIC).
        needs_root: ``data.root`` must name an existing folder before anything is built.
        has_groups: images may carry a specimen/group id, so a split can be disjoint by specimen.
        partition_roles: the data set names its own unseen species and their key and query images
            (:class:`PartitionRoles`); the GZSL targets and support then come from there, not from folds.
    """

    synthetic: bool
    needs_root: bool
    has_groups: bool
    partition_roles: PartitionRoles | None = None


@dataclass(frozen=True)
class ScanRequest:
    """What a run asks of any layout: which species, joined with which DNA, split how.

    Attributes:
        classes: ``"dna"`` (species with images and DNA), ``"all"`` (image-only species too) or a list.
        dna_species: canonical species with DNA (the FASTA's, after synonyms); None = the shipped 32.
        synonyms: the ``genetics.synonyms`` table, applied to image species names as to FASTA headers.
        split_fractions: train/val/test fractions of the seeded split when the data gives none.
        split_seed: the seed of that split.
        on_bad_image: ``"skip"`` counts and names unusable inputs; ``"error"`` makes each a problem.
    """

    classes: str | Sequence[str] | None = "dna"
    dna_species: Collection[str] | None = None
    synonyms: Mapping[str, str] | None = None
    split_fractions: Sequence[float] = (0.7, 0.1, 0.2)
    split_seed: int = 0
    on_bad_image: str = "skip"


class DataLayout(ABC):
    """A data source that can be indexed; subclasses register themselves in :data:`LAYOUTS`.

    Class attributes:
        name: the ``data.source`` value that selects the layout (and the name of its module).
        facts: see :class:`LayoutFacts`.
        config_keys: the ``data.*`` keys the layout reads; the pipeline hands them to the layout and not to
            the data module.
    """

    name: ClassVar[str]
    facts: ClassVar[LayoutFacts]
    config_keys: ClassVar[tuple[str, ...]] = ("root",)

    @classmethod
    @abstractmethod
    def from_config(cls, data: Mapping[str, Any], *, cache_dir: Path) -> DataLayout:
        """Build the layout from the ``data`` config group (``cache_dir``: where generated data may go)."""

    @classmethod
    def problems(cls, data: Mapping[str, Any]) -> list[str]:
        """The layout's own settings that cannot work, each one line naming the key and the fix.

        Called by the config check before anything is built; only checks that are cheap (no scan).
        """
        return []

    @classmethod
    def train_counts(cls, data: Mapping[str, Any]) -> Mapping[str, int] | None:
        """Training images per species known without scanning (a generator knows them), else None."""
        return None

    @classmethod
    def barcode_table_of(cls, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """The data set's own DNA barcode table, when it carries one beside its images, else None.

        Returns:
            :func:`visgen.genetics.table.read_barcode_table` keywords (``path``, the column names, optionally
            ``max_length``): ``genetics.source=table`` with ``genetics.table.path`` unset reads this table.
        """
        return None

    @classmethod
    def species_tree(cls, data: Mapping[str, Any]) -> tuple[str, SpeciesCovariance] | None:
        """The tree the images' species evolved along, when the source knows it (a generator does), else None.

        Returns:
            ``(tree name, covariance)`` where ``covariance(species) -> [S, S]`` is the shared-path covariance with
            unit tip depth, over exactly the species asked for.
        """
        return None

    @abstractmethod
    def scan(self, request: ScanRequest) -> tuple[ImageIndex | None, list[str]]:
        """Index the data, collecting every problem instead of stopping at the first.

        Returns:
            ``(index, problems)``: the index (None when nothing usable was found) and one sentence per
            problem, each with its fix. Every input left out is in ``index.skipped`` (counted) and, unless it
            is operating-system litter, in ``index.skipped_items`` (named, with its reason).

        Raises:
            UserInputError: only when there is nothing to report on (no such root, no species at all).
        """

    @abstractmethod
    def describe(self) -> str:
        """Where the data comes from, for messages (``data.root=/path``, ``ForamSim``)."""

    def dataset_info(self, root: Path) -> dict[str, Any]:
        """What a run records about its data source (``run.json``'s data facts start from this).

        A folder that a generator wrote says so in its ``dataset.json`` (every generator setting included),
        whichever layout reads it; otherwise the layout's name and facts.
        """
        meta = root / "dataset.json"
        if meta.is_file():
            return dict(json.loads(meta.read_text()))
        return {"source": self.name, "synthetic": self.facts.synthetic}


#: ``data.source`` value -> layout class; ``@LAYOUTS.register("<name>")`` on each layout module's class.
LAYOUTS: Registry[type[DataLayout]] = Registry("data layout", "data.source", "visgen.data.layouts")


def layout_keys() -> set[str]:
    """Every ``data.*`` key some layout reads (the data module gets none of them)."""
    return {"source", *(key for _, cls in LAYOUTS.items() for key in cls.config_keys)}
