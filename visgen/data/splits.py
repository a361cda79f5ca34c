"""Train/val/test splits: read from a manifest CSV, or a seeded stratified split per species, or a
stratified split that keeps each group (specimen) whole.

Serial slices or repeated shots of one specimen are near-copies: split by image, a test image's twin
sits in the gallery and accuracy measures recall of the specimen, not recognition of the species (the
issue that asked for this measured 98.8 % by image vs 47 % by specimen on micro-CT slices). A ``group``
per image (manifest column or ``data.group_regex``) makes every split disjoint by group.

Pure numpy; used by :mod:`visgen.data.layouts.folder`.
"""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from visgen.errors import UserInputError

SPLITS = ("train", "val", "test")


def read_manifest(path: Path) -> tuple[dict[str, str], set[str]]:
    """Read a manifest CSV with at least the columns ``path`` and ``split``.

    An optional ``extra_test`` column (``1``/``0``; ForamSim's test floor) marks test images beyond
    the long-tailed count, which overall accuracy leaves out (see :mod:`visgen.sim.forams_sim`).

    Returns:
        (relative image path -> split, the paths marked ``extra_test = 1``).
    """
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"path", "split"} <= set(reader.fieldnames):
                raise UserInputError(f"{path}: manifest needs the columns 'path' and 'split'; add them")
            out: dict[str, str] = {}
            extra: set[str] = set()
            for line, row in enumerate(reader, start=2):
                split = (row["split"] or "").strip()
                if split not in SPLITS:
                    raise UserInputError(
                        f"{path}:{line}: split {split!r} is not one of {SPLITS}; fix the row"
                    )
                rel = Path(row["path"].strip()).as_posix()
                flag = (row.get("extra_test") or "0").strip()
                if flag not in ("0", "1") or (flag == "1" and split != "test"):
                    raise UserInputError(
                        f"{path}:{line}: extra_test {flag!r} with split {split!r}; use 0, or 1 on a test row"
                    )
                out[rel] = split
                if flag == "1":
                    extra.add(rel)
    except OSError as err:
        raise UserInputError(f"{path}: cannot read the manifest ({err.strerror}); check the path") from err
    return out, extra


def stratified_split(
    labels: np.ndarray,
    class_names: Sequence[str],
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
) -> np.ndarray:
    """Seeded per-species train/val/test split that keeps every species in every split when it can.

    A species with n ≥ 3 images gets ``max(1, round(f_val·n))`` val and ``max(1, round(f_test·n))``
    test images and at least one training image; n = 2 gives one train and one test image; n = 1 is
    train only. Each species is shuffled by its own generator (seeded by ``seed`` and a hash of its
    name), so adding or removing a species does not change the others' splits.

    Args:
        labels: int [N] class index per image.
        class_names: species per class index.
        fractions: (train, val, test) fractions, summing to 1.
        seed: split seed.

    Returns:
        str array [N] of ``"train"|"val"|"test"``.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise UserInputError(
            f"data.split_fractions={list(fractions)}: give three non-negative fractions summing to 1"
        )
    splits = np.full(len(labels), "train", dtype="<U5")
    for c, name in enumerate(class_names):
        members = np.flatnonzero(labels == c)
        n = len(members)
        if n < 2:
            continue
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        members = members[rng.permutation(n)]
        if n == 2:
            n_val, n_test = 0, 1
        else:
            n_val = max(1, round(fractions[1] * n)) if fractions[1] > 0 else 0
            n_test = max(1, round(fractions[2] * n)) if fractions[2] > 0 else 0
            while n - n_val - n_test < 1:  # tiny species: never take the last training image
                if n_test >= n_val and n_test > 1:
                    n_test -= 1
                else:
                    n_val -= 1
        splits[members[:n_val]] = "val"
        splits[members[n_val : n_val + n_test]] = "test"
    return splits


def manifest_columns(path: Path) -> set[str]:
    """The column names of a manifest CSV (empty set if it has no header)."""
    try:
        with open(path, newline="") as fh:
            return {c.strip() for c in (next(csv.reader(fh), None) or [])}
    except OSError as err:
        raise UserInputError(f"{path}: cannot read the manifest ({err.strerror}); check the path") from err


def read_manifest_groups(path: Path) -> dict[str, str]:
    """Relative image path -> group (specimen id) from a manifest's ``path`` and ``group`` columns.

    Raises:
        UserInputError: no ``group`` column, or a row with an empty group (named by line).
    """
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"path", "group"} <= set(reader.fieldnames):
            raise UserInputError(
                f"{path}: manifest needs the columns 'path' and 'split' or 'group'; add them"
            )
        out: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            group = (row["group"] or "").strip()
            if not group:
                raise UserInputError(f"{path}:{line}: empty group; give every image its specimen id")
            out[Path(row["path"].strip()).as_posix()] = group
    return out


def groups_from_names(paths: Sequence[str], pattern: str) -> tuple[list[str], list[str]]:
    """Group ids extracted from file names by ``data.group_regex``.

    The id is the named group ``group`` when the pattern has one, else the first group, else the whole
    match; it is searched in the path below the species folder: the file name, or ``specimen_07/slice_3.png``
    for images kept in one sub-folder per specimen (``'^([^/]+)/'`` then groups by sub-folder).

    Returns:
        ``(groups, unmatched)``: one id per path ("" where the pattern did not match) and the paths that
        did not match.
    """
    try:
        rule = re.compile(pattern)
    except re.error as err:
        raise UserInputError(
            f"data.group_regex={pattern!r}: invalid regex ({err}); fix the pattern"
        ) from None
    groups, unmatched = [], []
    for path in paths:
        match = rule.search(path.split("/", 1)[-1])  # below the species folder
        if match is None:
            groups.append("")
            unmatched.append(path)
            continue
        if "group" in rule.groupindex:
            groups.append(match.group("group") or "")
        else:
            groups.append(match.group(1) if rule.groups else match.group(0))
    return groups, unmatched


def group_split(
    labels: np.ndarray,
    groups: Sequence[str],
    class_names: Sequence[str],
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
) -> np.ndarray:
    """Seeded train/val/test split, stratified by species and disjoint by group.

    Group ids are scoped by species: a specimen is of one species, so ``specimen_1`` under two species
    names two specimens (ids restart in every species folder). Per species its groups are shuffled (by ``seed`` and a hash of the species name, as in ``stratified_split``) and
    taken into test, then val, while that brings the split's image count closer to its fraction; at
    least one group of a species with ≥ 3 groups goes to each split, a species with 2 groups gets one
    train and one test group, and the last group is never taken from train.

    Args:
        labels: int [N] class per image.
        groups: N group ids (specimens).
        class_names: species per class index.
        fractions: (train, val, test) fractions, summing to 1.
        seed: split seed.

    Returns:
        str array [N] of ``"train"|"val"|"test"``; all images of a group share one split.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise UserInputError(
            f"data.split_fractions={list(fractions)}: give three non-negative fractions summing to 1"
        )
    labels = np.asarray(labels, dtype=np.int64)
    keyed = np.asarray([f"{lab}\0{g}" for lab, g in zip(labels.tolist(), groups, strict=True)], dtype=str)
    names, first, inverse = np.unique(keyed, return_index=True, return_inverse=True)
    owner, size = labels[first], np.bincount(inverse, minlength=len(names))
    group_split_of = np.full(len(names), "train", dtype="<U5")
    for c, name in enumerate(class_names):
        members = np.flatnonzero(owner == c)  # this species' groups, sorted by id
        if len(members) < 2:
            continue
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        members = members[rng.permutation(len(members))]
        total = int(size[members].sum())
        left = list(members)
        pairs = (
            [("test", fractions[2])] if len(members) == 2 else [("test", fractions[2]), ("val", fractions[1])]
        )
        wanted = [(split, frac) for split, frac in pairs if frac > 0]
        for position, (split, frac) in enumerate(wanted):
            reserve = len(wanted) - position  # one group for train and one for each split still to fill
            target, taken = frac * total, 0
            while len(left) > reserve:
                g = left[0]
                if taken and abs(taken + size[g] - target) >= abs(taken - target):
                    break
                group_split_of[g] = split
                taken += int(size[g])
                left.pop(0)
    return group_split_of[inverse]


def write_splits_csv(
    path: Path, paths: Sequence[str], species: Sequence[str], groups: Sequence[str], splits: Sequence[str]
) -> Path:
    """Write the split a run used as ``path,species,group,split`` — a manifest that ``data.manifest`` reads back.

    Returns:
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")  # plain lines: awk/cut-friendly
        writer.writerow(["path", "species", "group", "split"])
        writer.writerows(zip(paths, species, groups, splits, strict=True))
    return path
