"""Scan a folder-per-species image layout into an :class:`ImageIndex` (paths, labels, groups, splits).

Species come from the data: every sub-folder is a species, its name normalised and mapped through
the one synonym table the FASTA reader uses too (``genetics.synonyms``; see
:func:`~visgen.genetics.species.canonical_species`), then joined with the species that have DNA.
``12 - Globigerinoides ruber``, ``Globigerinoides ruber`` and ``Trilobatus_sacculifer`` (a synonym)
all name their class. Splits come from a manifest CSV (``path`` + ``split``, or ``path`` + ``group``),
from groups matched in file names (``data.group_regex``) or from a seeded stratified split.

Every problem found while scanning is collected and reported in ONE message (``raise_problems``),
never one per run. Pure: no torch, no image decoding (that happens once, in
:mod:`visgen.data.image_cache`; header checks for ``visgen data check`` live in :mod:`visgen.report.data_check`).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np

from visgen.data.layouts.base import LAYOUTS, DataLayout, LayoutFacts, ScanRequest
from visgen.data.layouts.index import ImageIndex, SkippedItem
from visgen.data.split_source import assign_splits
from visgen.data.splits import SPLITS, stratified_split
from visgen.errors import UserInputError, raise_problems
from visgen.genetics.species import (
    canonical_species,
    known_species,
    missing_dna_hint,
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


#: Files an operating system or file manager leaves beside data (counted, never named one by one).
LITTER_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
LITTER = "operating-system litter (.DS_Store, Thumbs.db, ._*)"


def is_litter(name: str) -> bool:
    """Whether a file name is operating-system litter rather than data someone put there."""
    return name.lower() in LITTER_NAMES or name.startswith("._")


def _files_below(folder: Path, litter: Counter[str]) -> list[os.DirEntry[str]]:
    """Every file in a species folder and its sub-folders (e.g. one per specimen), sorted by path.

    Hidden folders (``.ipynb_checkpoints``) are passed over; litter files are counted in ``litter``.
    """
    out: list[os.DirEntry[str]] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if is_litter(entry.name):
            litter[LITTER] += 1
        elif entry.name.startswith("."):
            continue
        elif entry.is_dir():
            out += _files_below(Path(entry.path), litter)
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


@LAYOUTS.register("folder")
class FolderLayout(DataLayout):
    """One sub-folder per species (the Endless Forams layout), optionally a manifest CSV with splits or groups."""

    name = "folder"
    facts = LayoutFacts(synthetic=False, needs_root=True, has_groups=True)
    config_keys = ("root", "manifest", "group_regex")

    def __init__(
        self, root: str | Path, *, manifest: str | Path | None = None, group_regex: str | None = None
    ) -> None:
        self.root = Path(root)
        self.manifest = manifest
        self.group_regex = group_regex or None

    @classmethod
    def from_config(cls, data: Mapping[str, object], *, cache_dir: Path) -> FolderLayout:
        return cls(
            require_image_root(data.get("root")),  # type: ignore[arg-type]
            manifest=data.get("manifest"),  # type: ignore[arg-type]
            group_regex=data.get("group_regex"),  # type: ignore[arg-type]
        )

    @classmethod
    def problems(cls, data: Mapping[str, object]) -> list[str]:
        try:
            require_image_root(data.get("root"))  # type: ignore[arg-type]
        except UserInputError as err:
            return [str(err)]
        manifest = data.get("manifest")
        if manifest and not Path(str(manifest)).is_file():
            return [
                f"data.manifest={manifest}: no such file; give a CSV with path and split and/or group columns"
            ]
        return []

    def scan(self, request: ScanRequest) -> tuple[ImageIndex | None, list[str]]:
        return scan_with_problems(
            self.root, classes=request.classes, dna_species=request.dna_species, synonyms=request.synonyms,
            manifest=self.manifest, group_regex=self.group_regex, split_fractions=request.split_fractions,
            split_seed=request.split_seed, on_bad_image=request.on_bad_image,
        )  # fmt: skip

    def describe(self) -> str:
        return f"data.root={self.root}"


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
    items: list[SkippedItem] = []

    def bad(reason: str, where: Path | str, fix: str) -> None:
        if on_bad_image == "error":
            problems.append(f"{where}: {reason}; {fix} (or set data.on_bad_image=skip)")
        skipped[reason] += 1
        items.append(SkippedItem(Path(os.path.relpath(where, root)).as_posix(), reason))

    if classes in (None, "dna"):
        without = "species folders without DNA (data.classes=all keeps them)"
        for name in sorted(set(folders) - dna):
            skipped[without] += 1
            hint = missing_dna_hint(name, dna)
            items.append(SkippedItem(folders[name].name, f"species folder without DNA; {hint}"))
            if "did you mean" in hint:  # a typo'd folder would otherwise vanish with only a count
                log.warning("%s: folder %s has no DNA and is left out (%s)", root, folders[name].name, hint)
    elif not isinstance(classes, str):
        for name in sorted(set(folders) - set(selected)):
            skipped["species folders not selected"] += 1
            items.append(SkippedItem(folders[name].name, "species folder not in data.classes"))

    rel_paths: list[str] = []
    labels: list[int] = []
    stats: list[tuple[int, int]] = []
    class_names: list[str] = []
    for name in selected:
        images = []
        for entry in _files_below(folders[name], skipped):
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
        skipped_items=items,
        extra_test=split.extra[sel],
        groups=np.asarray(split.groups, dtype=object)[sel],
        no_dna=[n for n in class_names if n not in dna],
        locations={n: folders[n].name for n in class_names},
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
