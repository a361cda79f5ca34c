"""Shot buckets and the rare-class set against hand-checked values from the real class table."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from visgen.eval import longtail
from visgen.resources import data_path


def _real_train_counts() -> dict[str, int]:
    with open(data_path("endless_forams_classes.csv"), newline="") as fh:
        return {r["species"]: int(r["n_train_easyef_split"]) for r in csv.DictReader(fh)}


@pytest.mark.parametrize(
    ("n", "bucket"), [(0, "few"), (19, "few"), (20, "medium"), (57, "medium"), (100, "medium"), (101, "many")]
)
def test_shot_bucket_boundaries(n: int, bucket: str) -> None:
    assert longtail.shot_bucket(n) == bucket


def test_buckets_on_the_real_counts() -> None:
    counts = _real_train_counts()
    names = list(counts)
    buckets = dict(zip(names, longtail.shot_buckets(list(counts.values())), strict=True))
    # Checked by hand against n_train_easyef_split in endless_forams_classes.csv.
    assert buckets["Globigerinoides_ruber"] == "many"  # 4928
    assert buckets["Globigerinella_calida"] == "many"  # 104
    assert buckets["Globoquadrina_conglomerata"] == "medium"  # 63
    assert buckets["Globorotalia_ungulata"] == "medium"  # 21
    assert buckets["Hastigerina_pelagica"] == "few"  # 11
    assert buckets["Globigerinella_adamsi"] == "few"  # 3
    rare = {names[i] for i in longtail.rare_classes(list(counts.values()))}
    assert rare == {
        "Globoquadrina_conglomerata",  # 63
        "Turborotalita_humilis",  # 39
        "Globorotaloides_hexagonus",  # 36
        "Beella_digitata",  # 33
        "Globorotalia_ungulata",  # 21
        "Hastigerina_pelagica",  # 11
        "Tenuitella_iota",  # 6
        "Globigerinita_uvula",  # 6
        "Globigerinella_adamsi",  # 3
    }


def test_scaled_counts_keep_their_bucket() -> None:
    full = np.array([4928, 104, 63, 21, 11, 3])
    scale = 0.1
    scaled = full * scale  # what a 10% ForamSim would hold (before rounding)
    assert longtail.shot_buckets(scaled, scale) == longtail.shot_buckets(full)
    assert longtail.rare_classes(scaled, scale) == longtail.rare_classes(full) == {2, 3, 4, 5}
    # 2 images at scale 0.1 stand for 20 at full scale: medium, not few.
    assert longtail.shot_buckets([2, 1.9], 0.1) == ["medium", "few"]


def test_class_counts_and_members() -> None:
    assert longtail.class_counts([0, 2, 2, 3], 5).tolist() == [1, 0, 2, 1, 0]
    with pytest.raises(ValueError, match="labels must lie"):
        longtail.class_counts([0, 5], 5)
    with pytest.raises(ValueError, match="scale"):
        longtail.full_scale_counts([1], 0.0)
    assert longtail.bucket_members(["few", "many", "few"]) == {"many": [1], "medium": [], "few": [0, 2]}


def test_per_class_scale() -> None:
    # ForamSim at scale 0.1 floors an 8-image species at 5 (own scale 5/8): 3 training images are
    # 4.8 at full scale (few), not 30 (medium) as the dataset scale alone would say.
    counts = np.array([414, 3])
    scales = np.array([0.1, 5 / 8])
    assert longtail.full_scale_counts(counts, scales).tolist() == pytest.approx([4140, 4.8])
    assert longtail.shot_buckets(counts, scales) == ["many", "few"]
    assert longtail.shot_buckets(counts, 0.1) == ["many", "medium"]
    assert longtail.rare_classes(counts, scales) == {1}
