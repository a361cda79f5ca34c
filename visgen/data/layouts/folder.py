"""Scan a folder-per-species image layout into an :class:`ImageIndex` (paths, labels, groups, splits).

Species come from the data: every sub-folder is a species, its name normalised and mapped through
the one synonym table the FASTA reader uses too (``genetics.synonyms``; see
:func:`~visgen.genetics.species.canonical_species`), then joined with the species that have DNA.
``12 - Globigerinoides ruber``, ``Globigerinoides ruber`` and ``Trilobatus_sacculifer`` (a synonym)
all name their class. Splits come from a manifest CSV (``path`` + ``split``, or ``path`` + ``group``),
from groups matched in file names (``data.group_regex``) or from a seeded stratified split.

Every problem found while scanning is collected and reported in ONE message (``raise_problems``),
never one per run. Pure: no torch, no image decoding (that happens once, in
:mod:`visgen.data.image_cache`; header checks for ``visgen data check`` live in :mod:`visgen.data.audit`).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visgen.data.split_source import assign_splits
from visgen.data.splits import SPLITS, stratified_split
from visgen.errors import UserInputError, raise_problems
from visgen.genetics.species import (
    canonical_species,
    known_species,
    normalise_species_name,
    order_classes,
    species_scales,
    suggest_name,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "ImageIndex",
    "known_species",
    "normalise_species_name",
    "scan_image_folder",
    "scan_with_problems",
    "species_scales",
    "stratified_split",
]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})


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
        skipped: inputs dropped while scanning, ``{reason: count}``.
        extra_test: bool [N], ForamSim's test-floor images (manifest ``extra_test``), outside overall accuracy.
        groups: str [N] specimen/group id per image ("" when the data has none).
        no_dna: the selected species without DNA (``data.classes=all``): trained and scored, not aligned.
        folders: species -> its folder name (relative to ``root``).
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
    extra_test: np.ndarray | None = None
    groups: np.ndarray | None = None
    no_dna: list[str] = field(default_factory=list)
    folders: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.class_scale is None:
            self.class_scale = np.full(len(self.class_names), self.scale, dtype=np.float64)
        if self.extra_test is None:
            self.extra_test = np.zeros(len(self.paths), dtype=bool)
        if self.groups is None:
            self.groups = np.full(len(self.paths), "", dtype=object)

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


def _scan_species_folders(
    root: Path, synonyms: Mapping[str, str] | None, problems: list[str]
) -> dict[str, Path]:
    """Map canonical species name -> its folder; two folders of one species are a problem."""
    found: dict[str, Path] = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith("."):
            continue  # manifest.csv, dataset.json, contact_sheet.png, hidden folders
        name = canonical_species(entry.name, synonyms)
        if name in found:
            problems.append(
                f"folders '{found[name].name}' and '{entry.name}' are both species {name} (names are read as genus "
                "+ epithet, then genetics.synonyms); merge the two folders or rename one"
            )
            continue
        found[name] = Path(entry.path)
    if not found:
        raise UserInputError(f"{root}: no species folders found; expected one sub-folder per species")
    return found


def _select(
    classes: str | Sequence[str] | None,
    folders: Mapping[str, Path],
    dna: Collection[str],
    synonyms: Mapping[str, str] | None,
    problems: list[str],
) -> list[str]:
    """The selected species (label order) that have a folder; unknown or repeated names are problems."""
    if classes is None:
        classes = "dna"
    if isinstance(classes, str):
        if classes not in ("dna", "all"):
            raise UserInputError(
                f"data.classes={classes}: unknown value; use 'dna', 'all' or a list of species"
            )
        selected = order_classes(folders, dna, classes)
        if not selected:
            problems.append(
                f"no species has both images and DNA (folders: {', '.join(sorted(folders)[:8])}); check the "
                "folder names and genetics.synonyms, or use data.classes=all to train on images only"
            )
        return selected
    chosen = [canonical_species(str(c), synonyms) for c in classes]
    for name, k in Counter(chosen).items():
        if k > 1:
            problems.append(f"data.classes lists {name} {k} times (after genetics.synonyms); list it once")
    for name in dict.fromkeys(chosen):
        if name not in folders:
            problems.append(
                f"data.classes names {name} but no folder holds it ({suggest_name(name, list(folders))}); "
                "fix the name or add the folder"
            )
    return [n for n in dict.fromkeys(chosen) if n in folders]


def _files_below(folder: Path) -> list[os.DirEntry[str]]:
    """Every file in a species folder and its sub-folders (e.g. one per specimen), sorted by path.

    Hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``) are not data and are passed over.
    """
    out: list[os.DirEntry[str]] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            out += _files_below(Path(entry.path))
        elif entry.is_file():
            out.append(entry)
    return out


def scan_image_folder(root: str | Path, **options: object) -> ImageIndex:
    """Index a folder-per-species dataset, raising every problem at once.

    Args:
        root: the dataset folder (one sub-folder per species).
        **options: see :func:`scan_with_problems`.

    Raises:
        UserInputError: all problems found, in one message.
    """
    index, problems = scan_with_problems(root, **options)  # type: ignore[arg-type]
    raise_problems(problems, f"data.root={root}")
    assert index is not None
    log.info(index.summary())
    return index


def require_image_root(root: str | Path | None) -> Path:
    """``root`` as a Path, or ``UserInputError`` when it is not set or not a folder (one line with the fix)."""
    if root is None:
        raise UserInputError("data.root is not set; point it at a folder with one sub-folder per species")
    root = Path(root)
    if not root.is_dir():
        raise UserInputError(
            f"{root}: image folder not found; set data.root to a folder with one sub-folder per species"
        )
    return root


def scan_with_problems(
    root: str | Path,
    *,
    classes: str | Sequence[str] | None = "dna",
    dna_species: Collection[str] | None = None,
    synonyms: Mapping[str, str] | None = None,
    manifest: str | Path | None = None,
    group_regex: str | None = None,
    split_fractions: Sequence[float] = (0.7, 0.1, 0.2),
    split_seed: int = 0,
    on_bad_image: str = "skip",
) -> tuple[ImageIndex | None, list[str]]:
    """Index a folder-per-species dataset and collect every problem instead of stopping at the first.

    Args:
        root: the dataset folder.
        classes: ``"dna"`` (species with images and DNA; the default), ``"all"`` (also the image-only
            species, after the others), or an explicit list (label order = list order).
        dna_species: canonical species with DNA (the FASTA's, after synonyms); None = the built-in
            Endless Forams list (the 32 species of the shipped 18S file).
        synonyms: the ``genetics.synonyms`` table, applied to folder names as to FASTA headers.
        manifest: CSV with ``path`` and ``split`` and/or ``group``; default ``root/manifest.csv`` if present.
        group_regex: extracts a group (specimen) id from each file name; the split is then disjoint by group.
        split_fractions, split_seed: the seeded split when no manifest gives one.
        on_bad_image: ``"skip"`` counts non-image files, unlisted images and empty folders; ``"error"``
            makes each of them a problem.

    Returns:
        ``(index, problems)``: the index (None when nothing usable was found) and the problems, each a
        sentence with its fix.

    Raises:
        UserInputError: only for a missing root or a root without species folders (nothing to report on).
    """
    if on_bad_image not in ("skip", "error"):
        raise UserInputError(f"data.on_bad_image={on_bad_image}: unknown value; use 'skip' or 'error'")
    root = require_image_root(root)
    problems: list[str] = []
    folders = _scan_species_folders(root, synonyms, problems)
    dna = set(dna_species) if dna_species is not None else set(known_species()[1])
    selected = _select(classes, folders, dna, synonyms, problems)
    skipped: Counter[str] = Counter()

    def bad(reason: str, where: Path | str, fix: str) -> None:
        if on_bad_image == "error":
            problems.append(f"{where}: {reason}; {fix} (or set data.on_bad_image=skip)")
        skipped[reason] += 1

    if classes in (None, "dna"):
        skipped["species folders without DNA (data.classes=all keeps them)"] += len(set(folders) - dna)
        # The Endless Forams species the shipped table knows to have no 18S are no typo: they need no hint.
        catalogued_all, catalogued_dna = known_species()
        catalogued = set(catalogued_all) - set(catalogued_dna)
        for name in sorted(set(folders) - dna - catalogued):
            close = suggest_name(name, sorted(dna))
            if close.startswith("did you mean"):  # a typo'd folder would otherwise vanish quietly
                log.warning("%s: folder of %s has no DNA and is left out (%s)", root, name, close)
    elif not isinstance(classes, str):
        skipped["species folders not selected"] += len(set(folders) - set(selected))

    rel_paths: list[str] = []
    labels: list[int] = []
    stats: list[tuple[int, int]] = []
    class_names: list[str] = []
    for name in selected:
        images = []
        for entry in _files_below(folders[name]):
            if Path(entry.name).suffix.lower() not in IMAGE_EXTENSIONS:
                bad("non-image file", entry.path, "remove it from the species folder")
                continue
            images.append(entry)
        if not images:
            bad("empty species folder", folders[name], "add images or remove the folder")
            continue
        class_names.append(name)
        for entry in images:
            st = entry.stat()
            rel_paths.append(Path(os.path.relpath(entry.path, root)).as_posix())
            labels.append(len(class_names) - 1)
            stats.append((st.st_size, st.st_mtime_ns))
    if not rel_paths:
        if not problems:
            problems.append("no images found for the selected species; check data.root and data.classes")
        return None, problems

    label_arr = np.asarray(labels, dtype=np.int64)
    used = {folders[n].name for n in class_names}
    split = assign_splits(
        root, rel_paths, label_arr, class_names, used,
        manifest=manifest, group_regex=group_regex, fractions=split_fractions, seed=split_seed,
    )  # fmt: skip
    problems += split.problems
    for reason, where, fix in split.bad:
        bad(reason, where, fix)
    sel = np.flatnonzero(split.splits != "")
    scale, generated = _read_dataset_json(root)
    size_mtime = np.asarray(stats, dtype=np.int64).reshape(-1, 2)
    index = ImageIndex(
        root=root,
        paths=[rel_paths[i] for i in sel],
        labels=label_arr[sel],
        splits=split.splits[sel],
        sizes=size_mtime[sel, 0],
        mtimes_ns=size_mtime[sel, 1],
        class_names=class_names,
        scale=scale,
        class_scale=species_scales(class_names, scale, generated),
        skipped={k: v for k, v in skipped.items() if v},
        extra_test=split.extra[sel],
        groups=np.asarray(split.groups, dtype=object)[sel],
        no_dna=[n for n in class_names if n not in dna],
        folders={n: folders[n].name for n in class_names},
    )
    return index, problems


def _read_dataset_json(root: Path) -> tuple[float, dict[str, int] | None]:
    """(``scale``, per-species ``counts``) from ``root/dataset.json`` (ForamSim), else (1.0, None)."""
    meta = root / "dataset.json"
    if not meta.exists():
        return 1.0, None
    try:
        info = json.loads(meta.read_text())
        scale = float(info.get("scale", 1.0))
        counts = {str(k): int(v) for k, v in (info.get("counts") or {}).items()}
    except (ValueError, TypeError, AttributeError, json.JSONDecodeError) as err:
        raise UserInputError(
            f"{meta}: not valid JSON with a numeric 'scale' ({err}); fix or delete it"
        ) from err
    if not scale > 0:
        raise UserInputError(f"{meta}: scale must be > 0, got {scale}; fix the file")
    return scale, counts or None
