"""Integration: the data module on a very small real ForamSim run (manifest splits, scale, buckets)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
import torch

from visgen.data.datamodules import ForamImageDataModule
from visgen.data.layouts.forams_sim import ForamSimLayout


@pytest.fixture(scope="module")
def sim_dm(tmp_path_factory: pytest.TempPathFactory) -> ForamImageDataModule:
    cache = tmp_path_factory.mktemp("cache")
    dm = ForamImageDataModule(
        ForamSimLayout({"scale": 0.001, "seed": 0, "phylo_signal": 1.0, "size": 32}, cache_dir=cache),
        image_size=24,
        batch_size=16,
        m_per_class=4,
        num_workers=0,
        cache_dir=cache,
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_forams_sim_splits_come_from_its_manifest(sim_dm: ForamImageDataModule) -> None:
    root = Path(sim_dm.dataset_info["root"])
    with open(root / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["species"] in sim_dm.class_names]
    assert sim_dm.num_classes == 32  # the species with DNA, by default
    assert sim_dm.dataset_info["split_sizes"] == dict(Counter(r["split"] for r in rows))
    assert sim_dm.scale == pytest.approx(0.001) and sim_dm.dataset_info["synthetic"] is True
    assert (sim_dm.train_counts >= 1).all()


def test_floored_species_keep_their_real_bucket(sim_dm: ForamImageDataModule) -> None:
    bucket = dict(zip(sim_dm.class_names, sim_dm.shot_buckets, strict=True))
    # At scale 0.001 ForamSim floors every species at ~5 images; dividing 3 training images by the
    # dataset scale would make all of them "many". Per-species scales keep the real long tail:
    assert bucket["Globigerinoides_ruber"] == "many"  # 5914 real images
    assert bucket["Globoquadrina_conglomerata"] == "medium"  # 76 real images
    assert bucket["Tenuitella_iota"] == "few"  # 8 real images
    assert bucket["Globigerinita_uvula"] == "few"  # 7 real images
    rare = {sim_dm.class_names[i] for i in sim_dm.rare_classes}
    assert {"Globoquadrina_conglomerata", "Tenuitella_iota", "Hastigerina_pelagica"} <= rare
    assert "Globigerinoides_ruber" not in rare


def test_forams_sim_batches(sim_dm: ForamImageDataModule) -> None:
    batch = next(iter(sim_dm.train_dataloader()))
    assert batch["image"].shape == (16, 1, 24, 24) and batch["image"].dtype == torch.uint8
    assert sorted(Counter(batch["label"].tolist()).values()) == [4, 4, 4, 4]
    # Real pixels, not a blank: ForamSim draws bright shells on a dark background.
    assert batch["image"].float().std() > 5
    out = sim_dm.on_after_batch_transfer(batch, 0)
    assert out["image"].shape == (16, 3, 24, 24) and torch.isfinite(out["image"]).all()
