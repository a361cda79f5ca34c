"""Fail fast: every problem knowable from the config and the scanned data stops the run before anything trains,
each once, all in one message."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_tiny_image_folder
from tests.pipeline_fixtures import PIPELINE_COUNTS, compose_cfg, tiny_overrides
from visgen.data.layouts.folder import ImageIndex, scan_image_folder
from visgen.errors import UserInputError
from visgen.run.data_checks import data_problems

SETTINGS = {"classes": "dna", "stages": ["pretrain", "align"], "batch_size": 4, "m_per_class": 2,
            "sampler": "m_per_class", "epoch_length": None, "knn_k": 5}  # fmt: skip


def problems_of(index: ImageIndex, **changes: object) -> list[str]:
    return data_problems(index, **{**SETTINGS, **changes})  # type: ignore[arg-type]


@pytest.fixture
def index(tiny_image_folder: Path) -> ImageIndex:
    """6 species, 37 images; the stratified split gives 6 species with training images."""
    return scan_image_folder(tiny_image_folder)


def test_the_tiny_folder_passes_every_check(index: ImageIndex) -> None:
    assert problems_of(index) == []


def test_more_species_per_batch_than_have_training_images(index: ImageIndex) -> None:
    (p,) = problems_of(index, batch_size=14, m_per_class=2)
    assert p.startswith("data.batch_size=14 with data.m_per_class=2 needs 7 species per batch but only 6")
    assert "raise data.m_per_class to 3" in p  # ceil(14 / 6)


def test_batch_size_not_a_multiple_of_m_per_class(index: ImageIndex) -> None:
    assert problems_of(index, batch_size=5) == ["data.batch_size=5 must be a multiple of data.m_per_class=2"]


def test_a_batch_larger_than_the_training_split(index: ImageIndex) -> None:
    n_train = int(index.counts("train").sum())
    (p,) = problems_of(index, batch_size=n_train + 1, sampler="random")
    assert p.startswith(f"data.batch_size={n_train + 1}: the training split has {n_train} images")
    assert problems_of(index, batch_size=n_train, sampler="random") == []


def test_a_knn_k_larger_than_the_gallery(index: ImageIndex) -> None:
    n_train = int(index.counts("train").sum())
    (p,) = problems_of(index, knn_k=n_train + 1)
    assert p.startswith(
        f"callbacks.knn_eval.k={n_train + 1}: the KNN gallery (training split) has only {n_train}"
    )


def test_an_empty_validation_split(tiny_image_folder: Path) -> None:
    index = scan_image_folder(tiny_image_folder, split_fractions=(0.8, 0.0, 0.2))
    (p,) = problems_of(index)
    assert p.startswith("the val split is empty")


def test_a_listed_species_without_dna_under_alignment(tiny_image_folder: Path) -> None:
    (tiny_image_folder / "Ammonia_tepida").mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(tiny_image_folder / "Ammonia_tepida" / f"{i}.png")
    listed = ["Globigerinoides_ruber", "Globigerina_bulloides", "Ammonia_tepida"]
    index = scan_image_folder(tiny_image_folder, classes=listed)
    (p,) = problems_of(index, classes=listed)
    assert "1 species without DNA (Ammonia_tepida)" in p and "data.classes=all" in p
    assert problems_of(index, classes=listed, stages=["pretrain"]) == []  # no alignment, no DNA needed
    every = scan_image_folder(tiny_image_folder, classes="all")
    assert problems_of(every, classes="all") == []  # image-only species are simply not aligned


def test_alignment_with_fewer_than_two_species_with_dna(tiny_image_folder: Path) -> None:
    index = scan_image_folder(tiny_image_folder, classes="all", dna_species=["Globigerinoides_ruber"])
    (p,) = problems_of(index, classes="all")
    assert p.startswith("alignment needs at least 2 species with DNA, the data has 1")


def test_a_group_regex_that_misses_files(tiny_image_folder: Path) -> None:
    # ruber has files _00000.png ... _00011.png: the pattern matches the first ten only.
    with pytest.raises(
        UserInputError, match=r"2 file names do not match \(e.g. Globigerinoides_ruber/\S+_00010.png\)"
    ):
        scan_image_folder(tiny_image_folder, group_regex=r"_(0000\d)\.png", classes=["Globigerinoides_ruber"])
    index = scan_image_folder(
        tiny_image_folder, group_regex=r"_(\d{4})\d\.png", classes=["Globigerinoides_ruber"]
    )
    assert sorted(set(index.groups)) == ["0000", "0001"]


def test_a_manifest_split_that_puts_one_specimen_in_two_splits(tiny_image_folder: Path) -> None:
    rows = [(f"Orbulina_universa/Orbulina_universa_{i:05d}.png", "train" if i < 4 else "test", f"s{i // 3}")
            for i in range(6)]  # fmt: skip
    with open(tiny_image_folder / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "split", "group"), *rows])
    with pytest.raises(
        UserInputError,
        match=r"1 groups lie in more than one split \(e.g. Orbulina_universa/s1: \['test', 'train'\]\)",
    ):
        scan_image_folder(tiny_image_folder, classes=["Orbulina_universa"])


def test_a_missing_manifest_file(tiny_image_folder: Path) -> None:
    with pytest.raises(UserInputError, match=r"data.manifest=.*nope.csv: no such file"):
        scan_image_folder(tiny_image_folder, manifest=tiny_image_folder / "nope.csv")


def test_a_run_with_several_data_problems_stops_before_training_with_all_of_them(tmp_path: Path) -> None:
    from visgen.run.pipeline import run

    root = write_tiny_image_folder(tmp_path / "data", PIPELINE_COUNTS)
    (root / "Ammonia_tepida").mkdir()
    for i in range(6):
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(root / "Ammonia_tepida" / f"{i}.png")
    listed = "[Globigerinoides_ruber,Globigerina_bulloides,Ammonia_tepida,Globigerinita_uvula]"
    cfg = compose_cfg(
        tiny_overrides(root, tmp_path / "cache", f"data.classes={listed}", "callbacks.knn_eval.k=500")
    )
    with pytest.raises(UserInputError) as err:
        run(cfg, tmp_path / "run")
    text = str(err.value)
    assert "4 problems, all found before training" in text
    for part in (
        "Globigerinita_uvula but no folder",
        "needs 6 species per batch",
        "k=500",
        "without DNA (Ammonia_tepida)",
    ):
        assert text.count(part) == 1, part
    assert not (tmp_path / "run" / "pretrain").exists()  # nothing trained, nothing decoded
    assert not (tmp_path / "cache" / "data").exists()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
