"""Scan a folder-per-species image layout into an :class:`ImageIndex` (paths, labels, splits).

Reads ForamSim's output and the real Endless Forams layout (after the authors' border removal):
one sub-folder per species, named ``Globigerinoides_ruber``, ``Globigerinoides ruber`` or with a
numeric prefix such as ``12 - Globigerinoides ruber``. Splits come from a manifest CSV
(``path,species,split,...``; ForamSim writes ``manifest.csv``) or, without one, from a seeded
stratified split that keeps every species in every split where it has ≥ 3 images.

Pure: no torch, no image decoding (that happens once, in :mod:`visgen.data.image_cache`).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visgen.errors import UserInputError
from visgen.images.species import known_species, normalise_species_name, species_scales, suggest_name
from visgen.images.splits import SPLITS, read_manifest, stratified_split

__all__ = [
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "ImageIndex",
    "known_species",
    "normalise_species_name",
    "scan_image_folder",
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
        extra_test: bool [N], True for test images beyond the long-tailed count (ForamSim's test
            floor, from the manifest's ``extra_test`` column): overall accuracy leaves them out.
        sizes: int64 [N] file sizes in bytes (part of the decode-cache key).
        mtimes_ns: int64 [N] modification times (part of the decode-cache key).
        class_names: species in label order (``Genus_species``).
        scale: dataset scale (``dataset.json``; 1.0 for real images).
        class_scale: float64 [C] per-species scale for the long-tail buckets (see
            :func:`species_scales`); equals ``scale`` except for species ForamSim floored.
        skipped: inputs dropped while scanning, ``{reason: count}``.
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

    def __post_init__(self) -> None:
        if self.class_scale is None:
            self.class_scale = np.full(len(self.class_names), self.scale, dtype=np.float64)
        if self.extra_test is None:
            self.extra_test = np.zeros(len(self.paths), dtype=bool)

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
        """One line: images per split, classes, and the counted skips."""
        parts = [f"{int((self.splits == s).sum())} {s}" for s in SPLITS]
        assert self.extra_test is not None
        if self.extra_test.any():
            parts[-1] += f" of which {int(self.extra_test.sum())} extra (test floor)"
        text = f"{self.root}: {len(self.class_names)} species, {len(self.paths)} images ({', '.join(parts)})"
        if self.skipped:
            text += "; " + ", ".join(f"skipped {n} ({why})" for why, n in sorted(self.skipped.items()))
        return text


def _resolve_classes(
    classes: str | Sequence[str] | None, all_names: list[str], dna_names: list[str]
) -> tuple[list[str], bool]:
    """Return (selected class names in label order, whether the list was given explicitly)."""
    if classes is None or classes == "dna":
        return list(dna_names), False
    if classes == "all":
        return list(dna_names) + [n for n in all_names if n not in dna_names], False
    if isinstance(classes, str):
        raise UserInputError(
            f"data.classes: unknown value {classes!r}; use 'dna', 'all' or a list of species"
        )
    chosen = [normalise_species_name(c) for c in classes]
    dupes = [n for n, k in Counter(chosen).items() if k > 1]
    if dupes:
        raise UserInputError(f"data.classes: {dupes[0]} is listed twice; list each species once")
    return chosen, True


def _scan_species_folders(root: Path, known: Sequence[str]) -> dict[str, Path]:
    """Map canonical species name -> its folder; unknown names raise with a suggestion."""
    canonical = {k.lower(): k for k in known}
    found: dict[str, Path] = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith("."):
            continue  # manifest.csv, dataset.json, contact_sheet.png, hidden folders
        name = canonical.get(normalise_species_name(entry.name).lower())
        if name is None:
            raise UserInputError(
                f"{entry.path}: unknown species folder '{entry.name}' "
                f"({suggest_name(normalise_species_name(entry.name), known)}); "
                "rename the folder or list the species explicitly in data.classes"
            )
        if name in found:
            raise UserInputError(
                f"{entry.path}: species {name} also has the folder {found[name]}; merge the two folders"
            )
        found[name] = Path(entry.path)
    if not found:
        raise UserInputError(f"{root}: no species folders found; expected one sub-folder per species")
    return found


def scan_image_folder(
    root: str | Path,
    *,
    classes: str | Sequence[str] | None = "dna",
    manifest: str | Path | None = None,
    split_fractions: Sequence[float] = (0.7, 0.1, 0.2),
    split_seed: int = 0,
    on_bad_image: str = "skip",
) -> ImageIndex:
    """Index a folder-per-species dataset.

    Args:
        root: the dataset folder (one sub-folder per species).
        classes: ``"dna"`` (default, the 32 species with 18S data, label k = paper class k + 1),
            ``"all"`` (all 35: the 32 then the 3 without DNA), or an explicit list of species
            (label order = list order; names outside the 35 are accepted when listed). ``None``
            means ``"dna"``.
        manifest: CSV with ``path`` (relative to ``root``) and ``split``; default: ``root/manifest.csv``
            when it exists, else a seeded stratified split.
        split_fractions: (train, val, test) fractions of the stratified split.
        split_seed: seed of the stratified split.
        on_bad_image: ``"skip"`` counts non-image files, files missing from the manifest and empty
            species folders in ``skipped``; ``"error"`` raises on the first.

    Returns:
        The :class:`ImageIndex` (labels follow the selected class order; species without images
        are dropped and counted).

    Raises:
        UserInputError: missing root, unknown species folder (with the closest known name), a bad
            manifest, or any bad input when ``on_bad_image="error"``.
    """
    if on_bad_image not in ("skip", "error"):
        raise UserInputError(f"data.on_bad_image={on_bad_image!r}: use 'skip' or 'error'")
    root = Path(root)
    if not root.is_dir():
        raise UserInputError(
            f"{root}: image folder not found; set data.root to a folder with one sub-folder per species"
        )
    all_names, dna_names = known_species()
    selected, explicit = _resolve_classes(classes, all_names, dna_names)
    known = list(dict.fromkeys(all_names + (selected if explicit else [])))
    folders = _scan_species_folders(root, known)
    skipped: Counter[str] = Counter()

    def bad(reason: str, where: Path | str, fix: str) -> None:
        if on_bad_image == "error":
            raise UserInputError(f"{where}: {reason}; {fix} (or set data.on_bad_image=skip)")
        skipped[reason] += 1

    absent = [name for name in selected if name not in folders]
    if absent and explicit:
        raise UserInputError(
            f"{root}: no folder for species {absent[0]} in data.classes, {suggest_name(absent[0], list(folders))}"
        )
    if absent:
        # A partial copy of the data set is legitimate (e.g. a subset of species); say so, once.
        log.warning("%s: %d selected species have no folder: %s", root, len(absent), ", ".join(absent))
    skipped["species folders not selected"] += len(set(folders) - set(selected))

    rel_paths: list[str] = []
    labels: list[int] = []
    sizes: list[int] = []
    mtimes: list[int] = []
    class_names: list[str] = []
    for name in (n for n in selected if n in folders):
        files = sorted(os.scandir(folders[name]), key=lambda e: e.name)
        images = []
        for entry in files:
            if entry.name.startswith(".") or not entry.is_file():
                continue  # .DS_Store, nested folders
            if Path(entry.name).suffix.lower() not in IMAGE_EXTENSIONS:
                bad("non-image file", entry.path, "remove it from the species folder")
                continue
            images.append(entry)
        if not images:
            bad("empty species folder", folders[name], "add images or remove the folder")
            continue
        label = len(class_names)
        class_names.append(name)
        for entry in images:
            st = entry.stat()
            rel_paths.append(Path(os.path.relpath(entry.path, root)).as_posix())
            labels.append(label)
            sizes.append(st.st_size)
            mtimes.append(st.st_mtime_ns)
    if not rel_paths:
        raise UserInputError(
            f"{root}: no images found for the selected species; check data.root and data.classes"
        )

    label_arr = np.asarray(labels, dtype=np.int64)
    manifest_path = Path(manifest) if manifest is not None else root / "manifest.csv"
    keep = np.ones(len(rel_paths), dtype=bool)
    extra = np.zeros(len(rel_paths), dtype=bool)
    if manifest is not None or manifest_path.exists():
        by_path, extra_paths = read_manifest(manifest_path)
        extra = np.asarray([p in extra_paths for p in rel_paths], dtype=bool)
        splits = np.asarray([by_path.get(p, "") for p in rel_paths], dtype="<U5")
        keep = splits != ""
        for p in np.asarray(rel_paths)[~keep]:
            bad("image not in manifest", root / p, f"add it to {manifest_path}")
        present = set(rel_paths)
        used_folders = {folders[n].name for n in class_names}
        for p in sorted(by_path):
            if p.split("/")[0] in used_folders and p not in present:
                bad("manifest row without its image", manifest_path, f"restore {p} or delete its row")
    else:
        splits = stratified_split(label_arr, class_names, split_fractions, split_seed)

    sel = np.flatnonzero(keep)
    scale, generated = _read_dataset_json(root)
    index = ImageIndex(
        root=root,
        paths=[rel_paths[i] for i in sel],
        labels=label_arr[sel],
        splits=splits[sel],
        sizes=np.asarray(sizes, dtype=np.int64)[sel],
        mtimes_ns=np.asarray(mtimes, dtype=np.int64)[sel],
        class_names=class_names,
        scale=scale,
        class_scale=species_scales(class_names, scale, generated),
        skipped={k: v for k, v in skipped.items() if v},
        extra_test=extra[sel],
    )
    log.info(index.summary())
    return index


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
