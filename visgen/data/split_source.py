"""Where a folder's split comes from: a manifest's ``split`` column, groups (manifest ``group`` column or
``data.group_regex``) split by :func:`~visgen.data.splits.group_split`, or the stratified split by image.

Pure; used by :mod:`visgen.data.layouts.folder`. Problems are collected, not raised, so the scan reports
them all at once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visgen.data.splits import (
    group_split,
    groups_from_names,
    manifest_columns,
    read_manifest,
    read_manifest_groups,
    stratified_split,
)
from visgen.errors import UserInputError


@dataclass
class SplitAssignment:
    """The split of each scanned image.

    Attributes:
        splits: str [N] ``train``/``val``/``test``, "" for an image the manifest does not list.
        extra: bool [N] ForamSim's test-floor images.
        groups: N group ids ("" without groups).
        problems: sentences with their fix (reported together by the scan).
        bad: ``(reason, where, fix)`` of skippable inputs (counted, or problems under ``on_bad_image=error``).
        source: ``"manifest"``, ``"manifest groups"``, ``"group_regex"`` or ``"stratified"``.
    """

    splits: np.ndarray
    extra: np.ndarray
    groups: list[str]
    problems: list[str] = field(default_factory=list)
    bad: list[tuple[str, str, str]] = field(default_factory=list)
    source: str = "stratified"


def assign_splits(
    root: Path,
    paths: Sequence[str],
    labels: np.ndarray,
    class_names: Sequence[str],
    used_folders: Collection[str],
    *,
    manifest: str | Path | None,
    group_regex: str | None,
    fractions: Sequence[float],
    seed: int,
) -> SplitAssignment:
    """Assign every image a split (see the module docstring for the order of the sources).

    Args:
        root: dataset folder (a manifest's paths are relative to it).
        paths: N relative image paths.
        labels: int [N] class per image.
        class_names: species per class.
        used_folders: folder names of the selected species (manifest rows of other folders are ignored).
        manifest: the manifest CSV, or None for ``root/manifest.csv`` when it exists.
        group_regex: group id pattern for file names (used when the manifest gives no groups).
        fractions, seed: the seeded split.
    """
    n = len(paths)
    out = SplitAssignment(np.full(n, "", dtype="<U5"), np.zeros(n, dtype=bool), [""] * n)
    path = Path(manifest) if manifest is not None else root / "manifest.csv"
    by_split: dict[str, str] | None = None
    by_group: dict[str, str] | None = None
    if manifest is not None or path.exists():
        if not path.is_file():
            out.problems.append(
                f"data.manifest={path}: no such file; fix the path or leave data.manifest unset"
            )
            return out
        columns = manifest_columns(path)
        if "path" not in columns or not {"split", "group"} & columns:
            out.problems.append(
                f"{path}: a manifest needs the columns 'path' and 'split' or 'group'; add them"
            )
            return out
        try:
            if "split" in columns:
                by_split, extra_paths = read_manifest(path)
                out.extra = np.asarray([p in extra_paths for p in paths], dtype=bool)
            if "group" in columns:
                by_group = read_manifest_groups(path)
        except UserInputError as err:
            out.problems.append(str(err))
            return out
        listed = by_split if by_split is not None else by_group
        assert listed is not None
        present = set(paths)
        for p in paths:
            if p not in listed:
                out.bad.append(("image not in manifest", str(root / p), f"add it to {path}"))
        for p in sorted(listed):
            if p.split("/")[0] in used_folders and p not in present:
                out.bad.append(
                    ("manifest row without its image", str(path), f"restore {p} or delete its row")
                )
        out.source = "manifest"
    if by_group is not None:
        out.groups = [by_group.get(p, "") for p in paths]
    elif group_regex:
        out.groups, unmatched = groups_from_names(paths, group_regex)
        if unmatched:
            out.problems.append(
                f"data.group_regex={group_regex}: {len(unmatched)} file names do not match (e.g. {unmatched[0]}); "
                "widen the pattern or rename the files"
            )
            return out
    listed_mask = np.asarray([by_split is None or p in by_split for p in paths], dtype=bool)
    if by_group is not None:
        listed_mask &= np.asarray([p in by_group for p in paths], dtype=bool)
    keep = np.flatnonzero(listed_mask)
    if by_split is not None:
        out.splits[keep] = [by_split[paths[i]] for i in keep]
        if any(out.groups):
            _check_groups_within_splits(out, labels, class_names)
    elif any(out.groups):
        out.source = "manifest groups" if by_group is not None else "group_regex"
        out.splits[keep] = group_split(
            labels[keep], [out.groups[i] for i in keep], class_names, fractions, seed
        )
    else:
        out.splits[keep] = stratified_split(labels[keep], class_names, fractions, seed)
    return out


def _check_groups_within_splits(out: SplitAssignment, labels: np.ndarray, class_names: Sequence[str]) -> None:
    """A given split that puts one group into two splits leaks a specimen into its own gallery: a problem.

    Groups are scoped by species (``species/group``), as in ``group_split``.
    """
    seen: dict[str, set[str]] = {}
    for label, group, split in zip(labels.tolist(), out.groups, out.splits.tolist(), strict=True):
        if group and split:
            seen.setdefault(f"{class_names[label]}/{group}", set()).add(split)
    crossing = sorted(g for g, s in seen.items() if len(s) > 1)
    if crossing:
        out.problems.append(
            f"{len(crossing)} groups lie in more than one split (e.g. {crossing[0]}: {sorted(seen[crossing[0]])}); "
            "fix the manifest's split column, or drop it to let the group split choose"
        )
