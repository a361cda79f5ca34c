"""The image index every data layout produces and the data module consumes (pure numpy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visgen.data.splits import SPLITS


@dataclass(frozen=True)
class SkippedItem:
    """One input a layout left out: the file, folder or record, and why (shown by ``visgen data check``)."""

    item: str
    reason: str


@dataclass
class ImageIndex:
    """The images of a dataset, one entry per image (shape [N] for every array).

    Attributes:
        root: the dataset folder.
        paths: image paths relative to ``root`` (POSIX form).
        labels: int64 [N] class index into ``class_names``.
        splits: str [N], each ``"train"``, ``"val"`` or ``"test"``.
        sizes: int64 [N] file sizes in bytes (part of the decode-cache key).
        mtimes_ns: int64 [N] modification times (part of the decode-cache key).
        class_names: species in label order (``Genus_species``).
        scale: dataset scale (``dataset.json``; 1.0 for real images).
        class_scale: float64 [C] per-species scale for the long-tail buckets (see :func:`species_scales`).
        skipped: inputs dropped while scanning, ``{reason: count}`` (every one, litter included).
        skipped_items: the dropped inputs by name (path or record id) with their reason; operating-system
            litter (``.DS_Store``, ``Thumbs.db``, ``._*``) is only counted.
        extra_test: bool [N], ForamSim's test-floor images (manifest ``extra_test``), outside overall accuracy.
        groups: str [N] specimen/group id per image ("" when the data has none).
        no_dna: the selected species without DNA (``data.classes=all``): trained and scored, not aligned.
        locations: species -> where its images come from in the layout (a folder name relative to ``root``,
            a metadata table's name for the species, ...), shown by ``visgen data check``.
        partitions: str [N], the data set's own partition of each image where it has more than visgen's
            three splits (BIOSCAN-5M's ``key_unseen``, ``test_unseen``, ...); "" when it has none.
    """

    root: Path
    paths: list[str]
    labels: np.ndarray
    splits: np.ndarray
    sizes: np.ndarray
    mtimes_ns: np.ndarray
    class_names: list[str]
    scale: float = 1.0
    class_scale: np.ndarray | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_items: list[SkippedItem] = field(default_factory=list)
    extra_test: np.ndarray | None = None
    groups: np.ndarray | None = None
    no_dna: list[str] = field(default_factory=list)
    locations: dict[str, str] = field(default_factory=dict)
    partitions: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.class_scale is None:
            self.class_scale = np.full(len(self.class_names), self.scale, dtype=np.float64)
        if self.extra_test is None:
            self.extra_test = np.zeros(len(self.paths), dtype=bool)
        if self.groups is None:
            self.groups = np.full(len(self.paths), "", dtype=object)
        if self.partitions is None:
            self.partitions = np.full(len(self.paths), "", dtype=object)

    def split_indices(self, split: str) -> np.ndarray:
        """Positions (into ``paths``) of one split, int64 [n], ascending."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return np.flatnonzero(self.splits == split).astype(np.int64)

    def counts(self, split: str = "train") -> np.ndarray:
        """Images per class in one split, int64 [C]."""
        return np.bincount(self.labels[self.splits == split], minlength=len(self.class_names)).astype(
            np.int64
        )

    def summary(self) -> str:
        """One line: images per split, classes, image-only species, and the counted skips."""
        parts = [f"{int((self.splits == s).sum())} {s}" for s in SPLITS]
        assert self.extra_test is not None
        if self.extra_test.any():
            parts[-1] += f" of which {int(self.extra_test.sum())} extra (test floor)"
        text = f"{self.root}: {len(self.class_names)} species, {len(self.paths)} images ({', '.join(parts)})"
        if self.no_dna:
            text += f"; {len(self.no_dna)} without DNA (image-only, not aligned): {', '.join(self.no_dna)}"
        if self.skipped:
            text += "; " + ", ".join(f"skipped {n} ({why})" for why, n in sorted(self.skipped.items()))
        return text
