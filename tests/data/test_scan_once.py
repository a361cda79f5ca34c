"""A run scans its folder once: the summary and every scan warning appear once per run, not once per stage."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visgen.data.datamodules import ForamImageDataModule
from visgen.data.layouts.folder import FolderLayout


def _with_extra_folder(root: Path, species: str, cache: Path) -> ForamImageDataModule:
    """The tiny folder plus a one-image folder ``species``, as a folder data module."""
    (root / species).mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / species / "a.png")
    return ForamImageDataModule(
        FolderLayout(root), image_size=16, batch_size=4, m_per_class=2, num_workers=0, cache_dir=cache
    )


def test_summary_and_warnings_are_logged_once_across_prepare_and_setup(
    tiny_image_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dm = _with_extra_folder(tiny_image_folder, "Globigerinoides_rubber", tmp_path)  # a typo: warned, left out
    with caplog.at_level(logging.INFO):
        for stage in ("fit", "test", "fit"):  # pretraining, its test, then alignment: as a run calls them
            dm.prepare_data()
            dm.setup(stage)
    summaries = [
        r for r in caplog.records if r.getMessage().startswith(f"{tiny_image_folder}: 6 species, 37 images")
    ]
    typo = [r for r in caplog.records if "did you mean 'Globigerinoides_ruber'" in r.getMessage()]
    assert len(summaries) == 1 and len(typo) == 1


def test_a_catalogued_species_without_dna_is_counted_but_gets_no_typo_hint(
    tiny_image_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Turborotalita_humilis is one of the three Endless Forams species the shipped table has no 18S for (ForamSim
    # draws it too): it is left out like any folder without DNA, but suggesting a "similar" species is noise.
    dm = _with_extra_folder(tiny_image_folder, "Turborotalita_humilis", tmp_path)
    with caplog.at_level(logging.INFO):
        dm.prepare_data()
        dm.setup("fit")
    assert "Turborotalita_humilis" not in dm.class_names
    assert not [r for r in caplog.records if "did you mean" in r.getMessage()]
    assert any("skipped 1 (species folders without DNA" in r.getMessage() for r in caplog.records)
