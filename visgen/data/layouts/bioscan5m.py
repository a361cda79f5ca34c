"""BIOSCAN-5M as a data layout: the published metadata CSV and its cropped images, read with ``bioscan-dataset``.

On disk (as the ``bioscan-dataset`` package downloads it)::

    <root>/bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv
    <root>/bioscan5m/images/cropped_256/<split>/[<chunk>/]<processid>.jpg

One row per specimen and one image per row. The package's own loader reads the CSV (its column types, its
DNA truncation to the first ``max_nucleotides`` bases, its ``image_path`` rule), so visgen and the package
always agree on where a record's image lies. The class is the ``species`` column, spelled as a FASTA header's
species is (``genetics.synonyms`` applies). The data set's partitions map onto visgen's splits by
``data.partitions``; each image keeps its own partition in ``ImageIndex.partitions``, and the layout's
``partition_roles`` say what each plays in the GZSL stage (the unseen species' keys are its support, their
test queries its unseen queries, ``other_heldout`` its novelty queries), so the data module asks the layout
instead of folding species. The barcodes in the CSV are the anchors' DNA with ``genetics.source=table``
(``barcode_table_of``), so no FASTA is needed.

Every record left out is counted by reason and named by its processid: an unknown split value, a record
without species or without a DNA barcode, an image file that is not there. A partition mapped to null is one
named item (it is a choice, not a fault of each of its records). No groups: each specimen has one image, and
``dna_bin`` is a species-level cluster, so a split disjoint by it would split species, not specimens.

The paths and partition names below are the package's (a test compares them), so the config check does not
need to import the package (it imports torch).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from visgen.data.layouts.base import LAYOUTS, DataLayout, LayoutFacts, ScanRequest
from visgen.data.layouts.index import ImageIndex, SkippedItem
from visgen.data.layouts.roles import PartitionRoles
from visgen.data.splits import SPLITS
from visgen.errors import UserInputError, is_int
from visgen.genetics.species import canonical_species, known_species, order_classes, suggest_name

log = logging.getLogger(__name__)

#: ``BIOSCAN5M.base_folder`` and ``BIOSCAN5M.meta["filename"]`` of the package.
METADATA = Path("bioscan5m", "metadata", "csv", "BIOSCAN_5M_Insect_Dataset_metadata.csv")
IMAGES = Path("bioscan5m", "images")
#: The package's ``VALID_SPLITS``: every value of the CSV's ``split`` column.
PARTITIONS = ("pretrain", "train", "val", "test", "key_unseen", "val_unseen", "test_unseen", "other_heldout")
#: Partition -> visgen split (None: left out) where ``data.partitions`` does not say (conf/data/bioscan5m.yaml
#: explains the choice). Seen species train; the unseen and held-out species are test images only.
DEFAULT_PARTITIONS: dict[str, str | None] = {
    "pretrain": None, "train": "train", "val": "val", "test": "test",
    "key_unseen": "test", "val_unseen": "test", "test_unseen": "test", "other_heldout": "test",
}  # fmt: skip
IMAGE_PACKAGES = ("cropped_256", "original_256", "cropped", "original_full")
#: Columns read: the package's loader needs every taxonomy rank and dna_bin (it indexes them all).
COLUMNS = ["processid", "chunk", "phylum", "class", "order", "family", "subfamily", "genus", "species",
           "dna_bin", "dna_barcode", "split"]  # fmt: skip

UNKNOWN_SPLIT = "records with an unknown split value"
NO_SPECIES = "records without species"
NO_BARCODE = "records without a DNA barcode"
NO_IMAGE = "records whose image file is missing"
NOT_SELECTED = "records of species not in data.classes"
NO_DNA = "records of species without DNA (data.classes=all keeps them)"


def download_hint(root: str | Path, partitions: Mapping[str, str | None]) -> str:
    """The one command that fetches the partitions the mapping uses, with the package, into ``root``."""
    used = "+".join(p for p in PARTITIONS if partitions.get(p))
    return f"python -c \"from bioscan_dataset import BIOSCAN5M; BIOSCAN5M('{root}', split='{used}', download=True)\""


def _partitions(value: Any) -> tuple[dict[str, str | None], list[str]]:
    """``data.partitions`` over the defaults, as a full mapping (partition -> visgen split or None), and its problems."""
    given = dict(value or {})
    problems = [
        f"data.partitions.{key}: not a BIOSCAN-5M partition; use {', '.join(PARTITIONS)}"
        for key in given
        if key not in PARTITIONS
    ]
    problems += [
        f"data.partitions.{key}={split}: not a split; use {', '.join(SPLITS)} or null (left out)"
        for key, split in given.items()
        if split is not None and split not in SPLITS
    ]
    return {p: given.get(p, DEFAULT_PARTITIONS[p]) for p in PARTITIONS}, problems


@LAYOUTS.register("bioscan5m")
class Bioscan5mLayout(DataLayout):
    """The BIOSCAN-5M insect data set: a metadata CSV (taxonomy, COI barcode, split) and one image per record."""

    name = "bioscan5m"
    # The unseen species have no training image: their keys are the GZSL support (and retrieval keys), their
    # test queries are scored, their validation queries withheld; other_heldout species are novelty queries.
    facts = LayoutFacts(
        synthetic=False, needs_root=True, has_groups=False,
        partition_roles=PartitionRoles(support=("key_unseen",), validation=("val_unseen",),
                                       queries=("test_unseen",), novel=("other_heldout",)),
    )  # fmt: skip
    config_keys = ("root", "partitions", "max_records", "image_package", "max_nucleotides")

    def __init__(
        self,
        root: str | Path,
        *,
        partitions: Mapping[str, str | None],
        max_records: int | None = None,
        image_package: str = "cropped_256",
        max_nucleotides: int | None = 660,
    ) -> None:
        """See ``conf/data/bioscan5m.yaml`` for the settings; ``partitions`` must name every partition."""
        self.root = Path(root)
        self.partitions = dict(partitions)
        self.max_records = max_records
        self.image_package = image_package
        self.max_nucleotides = max_nucleotides

    @property
    def metadata_path(self) -> Path:
        return self.root / METADATA

    @property
    def image_dir(self) -> Path:
        """The package's ``image_dir``: image paths in the index are relative to it."""
        return self.root / IMAGES / self.image_package

    @classmethod
    def from_config(cls, data: Mapping[str, Any], *, cache_dir: Path) -> Bioscan5mLayout:
        problems = cls.problems(data)
        if problems:
            raise UserInputError(problems[0] if len(problems) == 1 else "; ".join(problems))
        mapping, _ = _partitions(data.get("partitions"))
        return cls(
            str(data["root"]), partitions=mapping, max_records=data.get("max_records"),
            image_package=str(data.get("image_package") or "cropped_256"),
            max_nucleotides=data.get("max_nucleotides", 660),
        )  # fmt: skip

    @classmethod
    def problems(cls, data: Mapping[str, Any]) -> list[str]:
        mapping, problems = _partitions(data.get("partitions"))
        if not any(mapping.values()):
            problems.append("data.partitions maps every partition to null; map train, val and test to splits")
        n = data.get("max_records")
        if n is not None and not (is_int(n) and int(n) > 0):
            problems.append(f"data.max_records={n}: must be a positive number of CSV rows or null (all)")
        nt = data.get("max_nucleotides", 660)
        if nt is not None and not (is_int(nt) and int(nt) > 0):
            problems.append(
                f"data.max_nucleotides={nt}: must be a positive length or null (keep whole barcodes)"
            )
        package = data.get("image_package") or "cropped_256"
        if package not in IMAGE_PACKAGES:
            problems.append(f"data.image_package={package}: unknown; use one of {', '.join(IMAGE_PACKAGES)}")
        if problems:
            return problems
        root = data.get("root")
        if root is None:
            return ["data.root is not set; point it at the folder that holds bioscan5m/ (the package's root)"]
        csv, images = Path(str(root)) / METADATA, Path(str(root)) / IMAGES / package
        if not csv.is_file() or not images.is_dir():
            missing = csv if not csv.is_file() else images
            return [
                f"data.root={root}: no BIOSCAN-5M data set there ({missing} is missing); fetch it with "
                f"{download_hint(root, mapping)} or set data.root to the folder that holds bioscan5m/"
            ]
        return []

    def describe(self) -> str:
        return f"data.root={self.root} (BIOSCAN-5M)"

    def dataset_info(self, root: Path) -> dict[str, Any]:
        return {"source": self.name, "synthetic": False, "partitions": self.partitions,
                "max_records": self.max_records, "image_package": self.image_package}  # fmt: skip

    def barcode_table(self) -> dict[str, Any]:
        """This data set's DNA as :func:`visgen.genetics.table.read_barcode_table` keywords (path and columns).

        The barcodes lie in the metadata CSV beside the images, cut to the first ``max_nucleotides`` bases as
        the package cuts them, so the DNA side reads exactly the sequences a record carries here.
        """
        return {"path": self.metadata_path, "id_column": "processid", "species_column": "species",
                "sequence_column": "dna_barcode", "max_length": self.max_nucleotides}  # fmt: skip

    @classmethod
    def barcode_table_of(cls, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """``barcode_table()`` of the layout ``data`` configures (None while ``data.root`` is unset)."""
        root = data.get("root")
        if root in (None, "???"):
            return None
        table = cls(str(root), partitions=DEFAULT_PARTITIONS,
                    max_nucleotides=data.get("max_nucleotides", 660)).barcode_table()  # fmt: skip
        return {**table, "path": str(table["path"])}

    def read_metadata(self) -> Any:
        """The metadata table (a ``pandas.DataFrame``) through the package's loader, ``max_records`` rows at most."""
        from bioscan_dataset import load_bioscan5m_metadata

        return load_bioscan5m_metadata(
            self.metadata_path, max_nucleotides=self.max_nucleotides, usecols=COLUMNS, nrows=self.max_records
        )

    def scan(self, request: ScanRequest) -> tuple[ImageIndex | None, list[str]]:
        if request.on_bad_image not in ("skip", "error"):
            raise UserInputError(
                f"data.on_bad_image={request.on_bad_image}: unknown value; use 'skip' or 'error'"
            )
        problems = self.problems({"root": str(self.root), "partitions": self.partitions,
                                  "image_package": self.image_package})  # fmt: skip
        if problems:
            raise UserInputError(problems[0])
        df = self.read_metadata()
        ids = df["processid"].astype(str).to_numpy()
        split = df["split"].fillna("").astype(str).to_numpy()
        raw_species = df["species"].astype(object).where(df["species"].notna(), "").to_numpy()
        barcode = df["dna_barcode"].fillna("").astype(str).str.strip().to_numpy()
        rel_paths = df["image_path"].fillna("").astype(str).to_numpy()
        skipped: Counter[str] = Counter()
        items: list[SkippedItem] = []
        keep = np.ones(len(df), dtype=bool)

        def leave_out(mask: np.ndarray, reason: str, why: Callable[[int], str]) -> list[str]:
            """Drop the records in ``mask`` still kept, each named by processid; return their processids."""
            hit = np.flatnonzero(mask & keep)
            keep[hit] = False
            if len(hit):
                skipped[reason] += len(hit)
                items.extend(SkippedItem(str(ids[i]), why(i)) for i in hit)
            return [str(ids[i]) for i in hit]

        listed = ", ".join(PARTITIONS)
        unknown = leave_out(~np.isin(split, PARTITIONS), UNKNOWN_SPLIT,
                            lambda i: f"unknown split value {split[i]!r}; the partitions are {listed}")  # fmt: skip
        for part in PARTITIONS:
            hit = (split == part) & keep
            if self.partitions[part] is None and hit.any():
                keep[hit] = False
                reason = f"records of partition {part} (data.partitions.{part}=null)"
                skipped[reason] += int(hit.sum())
                items.append(SkippedItem(f"partition {part}", f"{int(hit.sum())} records; {reason}"))
        leave_out(raw_species == "", NO_SPECIES, lambda i: "no species")
        leave_out(barcode == "", NO_BARCODE, lambda i: "no DNA barcode (dna_barcode is empty)")
        # Once per spelling, not per record: far fewer species names than records.
        canonical = {s: canonical_species(str(s), request.synonyms) for s in set(raw_species[keep].tolist())}
        species = np.asarray([canonical.get(s, "") for s in raw_species], dtype=object)
        locations: dict[str, set[str]] = {}
        for s, raw in zip(species[keep], raw_species[keep], strict=True):
            locations.setdefault(s, set()).add(str(raw))
        for name, spellings in locations.items():
            if len(spellings) > 1:  # e.g. a subspecies: one class, said once, the spellings in data check
                log.warning("BIOSCAN-5M species %s spelled %s: read as one class", name, sorted(spellings))
        selected = self._select(request, locations, species, keep, skipped, items, problems)
        label_of = {name: c for c, name in enumerate(selected)}
        rows = [i for i in np.flatnonzero(keep) if species[i] in label_of]
        stats: list[tuple[int, int]] = []
        found: list[int] = []
        missing: list[str] = []
        for i in rows:
            try:
                st = os.stat(self.image_dir / rel_paths[i])
            except OSError:
                skipped[NO_IMAGE] += 1
                items.append(SkippedItem(str(ids[i]), f"image file missing: {Path(rel_paths[i]).as_posix()}"))
                missing.append(str(ids[i]))
                continue
            found.append(i)
            stats.append((st.st_size, st.st_mtime_ns))
        if request.on_bad_image == "error":  # a fault of the copy on disk, not a fact of the data set
            for reason, names in ((UNKNOWN_SPLIT, unknown), (NO_IMAGE, missing)):
                if names:
                    problems.append(f"{len(names)} {reason} (e.g. {', '.join(names[:5])}); fix the metadata or "
                                    "the image folder (or set data.on_bad_image=skip)")  # fmt: skip
        if not found and not (rows == [] and problems):  # no selected species has already been said
            problems.append(
                f"{self.metadata_path}: no usable record (an image, a species and a barcode) in the "
                "partitions data.partitions maps to splits; check data.root and data.partitions"
            )
        if not found:
            return None, problems
        sel = np.asarray(found, dtype=np.int64)
        labels = np.asarray([label_of[species[i]] for i in sel], dtype=np.int64)
        present = sorted(set(labels.tolist()))
        class_names = [selected[c] for c in present]
        labels = np.searchsorted(np.asarray(present), labels).astype(np.int64)
        size_mtime = np.asarray(stats, dtype=np.int64).reshape(-1, 2)
        dna = set(request.dna_species) if request.dna_species is not None else set(known_species()[1])
        index = ImageIndex(
            root=self.image_dir,
            paths=[Path(rel_paths[i]).as_posix() for i in sel],
            labels=labels,
            splits=np.asarray([self.partitions[split[i]] for i in sel], dtype=object),
            sizes=size_mtime[:, 0],
            mtimes_ns=size_mtime[:, 1],
            class_names=class_names,
            skipped=dict(skipped),
            skipped_items=items,
            no_dna=[n for n in class_names if n not in dna],
            locations={n: " + ".join(sorted(locations[n])) for n in class_names},
            partitions=split[sel].astype(object),
        )
        return index, problems

    @staticmethod
    def _select(
        request: ScanRequest,
        locations: Mapping[str, set[str]],
        species: np.ndarray,
        keep: np.ndarray,
        skipped: Counter[str],
        items: list[SkippedItem],
        problems: list[str],
    ) -> list[str]:
        """The classes in label order (``data.classes`` over the kept records' species); the rest counted."""
        classes = "dna" if request.classes is None else request.classes
        dna = set(request.dna_species) if request.dna_species is not None else set(known_species()[1])
        if isinstance(classes, str):
            if classes not in ("dna", "all"):
                raise UserInputError(
                    f"data.classes={classes}: unknown value; use 'dna', 'all' or a list of species"
                )
            selected = order_classes(locations, dna, classes)
            reason, why = NO_DNA, "species without DNA in genetics.fasta; data.classes=all keeps it"
            if classes == "dna" and not selected and locations:
                problems.append(
                    f"no BIOSCAN-5M species has DNA in genetics.fasta ({len(locations)} species, e.g. "
                    f"{', '.join(sorted(locations)[:3])}); use data.classes=all to train on images only"
                )
        else:
            chosen = list(dict.fromkeys(canonical_species(str(c), request.synonyms) for c in classes))
            for name in chosen:
                if name not in locations:
                    problems.append(f"data.classes names {name} but no usable BIOSCAN-5M record has it "
                                    f"({suggest_name(name, list(locations))}); fix the name")  # fmt: skip
            selected = [n for n in chosen if n in locations]
            reason, why = NOT_SELECTED, "species not in data.classes"
        records = Counter(species[keep].tolist())
        left = sorted(set(locations) - set(selected))
        for name in left:
            n = records[name]
            skipped[reason] += n
            items.append(SkippedItem(name, f"{n} records; {why}"))
        if left:  # the records are counted above; this says how many species that is
            log.info("BIOSCAN-5M: %d species left out (%s): %s", len(left), why, ", ".join(left))
        return selected
