"""Held-out species on the data module's real splits: none in train/val/gallery, all test images kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from visgen.data.datamodules import ForamImageDataModule
from visgen.data.layouts.folder import FolderLayout

TARGET = "Globigerina_bulloides"  # 9 images in the tiny folder: 6 train, 1 val, 2 test


def _labels(loader: DataLoader) -> np.ndarray:
    return loader.dataset.labels.numpy()


def _dm(root: Path, tmp_path: Path, **kw) -> ForamImageDataModule:
    dm = ForamImageDataModule(
        FolderLayout(root), image_size=16, batch_size=8, m_per_class=2, num_workers=0,
        cache_dir=tmp_path / "cache", **kw,
    )  # fmt: skip
    dm.setup("fit")
    return dm


def test_an_unseen_species_has_no_training_validation_or_gallery_image(
    tiny_image_folder: Path, tmp_path: Path
) -> None:
    full = _dm(tiny_image_folder, tmp_path)
    dm = _dm(tiny_image_folder, tmp_path, unseen=[TARGET])
    c = dm.class_names.index(TARGET)
    assert dm.targets == [TARGET]
    for loader in (dm.split_dataloader("train"), dm.split_dataloader("val"), dm.gallery_dataloader()):
        assert not (_labels(loader) == c).any()
    assert (
        (_labels(dm.test_dataloader()[0]) == c).sum() == (_labels(full.test_dataloader()[0]) == c).sum() == 2
    )
    # Its 6 training images become the support pool (k-shot support only), other species are untouched.
    assert sorted(dm._datasets["support"].rows) == sorted(
        full._datasets["train"].rows[_labels(full.split_dataloader("train")) == c]
    )
    others = _labels(full.split_dataloader("train")) != c
    np.testing.assert_array_equal(dm._datasets["train"].rows, full._datasets["train"].rows[others])
    assert dm.dataset_info["heldout"]["dropped"] == {"train": 6, "val": 1}


def test_k_shots_keep_the_first_k_of_the_support_pool_in_training(
    tiny_image_folder: Path, tmp_path: Path
) -> None:
    dm = _dm(tiny_image_folder, tmp_path, unseen=[TARGET], shots=2)
    c = dm.class_names.index(TARGET)
    train = dm._datasets["train"]
    kept = train.rows[train.labels.numpy() == c]
    assert sorted(kept) == sorted(dm._datasets["support"].rows[:2])
    assert not (_labels(dm.split_dataloader("val")) == c).any()
