"""Specimen-safe splits: stratified by species, disjoint by group; written to splits.csv and read back."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visgen.data.layouts.folder import scan_image_folder
from visgen.data.splits import group_split, groups_from_names, write_splits_csv


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.lists(st.integers(1, 6), min_size=1, max_size=8), min_size=1, max_size=4),
    seed=st.integers(0, 1000),
)
def test_every_group_lies_in_one_split_and_species_with_three_groups_reach_every_split(
    sizes: list[list[int]], seed: int
) -> None:
    labels, groups = [], []
    for c, group_sizes in enumerate(sizes):
        for g, n in enumerate(group_sizes):
            labels += [c] * n
            groups += [f"c{c}g{g}"] * n
    names = [f"Genus_s{c}" for c in range(len(sizes))]
    splits = group_split(np.asarray(labels), groups, names, (0.7, 0.1, 0.2), seed)
    by_group: dict[str, set[str]] = {}
    for g, s in zip(groups, splits.tolist(), strict=True):
        by_group.setdefault(g, set()).add(s)
    assert all(len(s) == 1 for s in by_group.values())
    for c, group_sizes in enumerate(sizes):
        mine = {str(s) for s, lab in zip(splits, labels, strict=True) if lab == c}
        expected = {1: {"train"}, 2: {"train", "test"}}.get(len(group_sizes), {"train", "val", "test"})
        assert mine == expected


def test_group_split_counts_on_a_hand_worked_case() -> None:
    # One species, 10 groups of 2 images: test 0.2 x 20 = 4 images = 2 groups, val 0.1 x 20 = 2 images = 1 group.
    labels = np.zeros(20, dtype=np.int64)
    groups = [f"g{i // 2}" for i in range(20)]
    splits = group_split(labels, groups, ["Orbulina_universa"], (0.7, 0.1, 0.2), seed=0)
    assert [int((splits == s).sum()) for s in ("train", "val", "test")] == [14, 2, 4]


def test_group_split_is_seeded() -> None:
    labels = np.zeros(30, dtype=np.int64)
    groups = [f"g{i // 3}" for i in range(30)]
    a = group_split(labels, groups, ["Orbulina_universa"], seed=1)
    assert (a == group_split(labels, groups, ["Orbulina_universa"], seed=1)).all()
    assert any((group_split(labels, groups, ["Orbulina_universa"], seed=s) != a).any() for s in range(2, 6))


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"^(?P<group>[a-z]+\d+)_slice", ["spec1", "spec1", "spec22"]),  # named group
        (r"^([a-z]+\d+)_", ["spec1", "spec1", "spec22"]),  # first group
        (r"spec\d+", ["spec1", "spec1", "spec22"]),  # whole match
    ],
)
def test_groups_from_file_names(pattern: str, expected: list[str]) -> None:
    paths = ["A_b/spec1_slice0.png", "A_b/spec1_slice1.png", "A_b/spec22_slice0.png"]
    assert groups_from_names(paths, pattern) == (expected, [])


def test_the_written_split_reads_back_as_a_manifest(tiny_image_folder: Path, tmp_path: Path) -> None:
    first = scan_image_folder(tiny_image_folder, group_regex=r"_(\d{4})\d\.png")
    species = [first.class_names[c] for c in first.labels]
    out = write_splits_csv(
        tmp_path / "splits.csv", first.paths, species, list(first.groups), list(first.splits)
    )
    with open(out, newline="") as fh:
        assert next(csv.reader(fh)) == ["path", "species", "group", "split"]
    again = scan_image_folder(tiny_image_folder, manifest=out, split_seed=99)  # the seed no longer matters
    assert again.paths == first.paths
    assert (again.splits == first.splits).all() and list(again.groups) == list(first.groups)


def test_images_in_specimen_subfolders_are_found_and_can_be_grouped_by_subfolder(tmp_path: Path) -> None:
    from PIL import Image

    for species in ("Orbulina_universa", "Globigerinoides_ruber"):
        for specimen in range(4):
            folder = tmp_path / species / f"specimen_{specimen}"
            folder.mkdir(parents=True)
            for k in range(3):
                Image.fromarray(np.full((8, 8), 10 * k + specimen, np.uint8)).save(folder / f"slice_{k}.png")
    (tmp_path / "Orbulina_universa" / ".ipynb_checkpoints").mkdir()  # hidden: not data
    index = scan_image_folder(tmp_path, group_regex=r"^([^/]+)/")
    assert len(index.paths) == 24 and index.paths[0] == "Globigerinoides_ruber/specimen_0/slice_0.png"
    assert sorted(set(index.groups)) == [f"specimen_{i}" for i in range(4)]
    species_group = {(index.labels[i], index.groups[i]) for i in range(24)}
    for label, group in species_group:
        members = [i for i in range(24) if index.labels[i] == label and index.groups[i] == group]
        assert len({index.splits[i] for i in members}) == 1
