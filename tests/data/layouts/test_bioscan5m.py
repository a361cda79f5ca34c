"""The BIOSCAN-5M layout on a miniature written in the published layout (tests/bioscan5m_fixtures.py).

Oracles: the ``bioscan-dataset`` package reading the same files, and the expected index computed here from the
CSV the fixture wrote (csv module, one loop), not from the layout's code.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.bioscan5m_fixtures import DOORS, HELDOUT, IMAGES, METADATA, SEEN, UNSEEN, write_mini_bioscan5m
from visgen.cli import main
from visgen.data.layouts import ScanRequest
from visgen.data.layouts import bioscan5m as layout_module
from visgen.data.layouts.bioscan5m import Bioscan5mLayout
from visgen.errors import UserInputError

ROOT = Path(__file__).resolve().parents[3]
CONF = yaml.safe_load((ROOT / "conf" / "data" / "bioscan5m.yaml").read_text())


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mini_bioscan5m(tmp_path_factory.mktemp("bioscan") / "data")


def _data(root: Path, **overrides: Any) -> dict[str, Any]:
    """The shipped ``conf/data/bioscan5m.yaml`` pointed at ``root``."""
    return {**CONF, "root": str(root), **overrides}


def _scan(root: Path, request: ScanRequest | None = None, **overrides: Any) -> tuple[Any, list[str]]:
    layout = Bioscan5mLayout.from_config(_data(root, **overrides), cache_dir=root / "cache")
    return layout.scan(request or ScanRequest(classes="all"))


def _rows(root: Path) -> list[dict[str, str]]:
    with (root / METADATA).open(newline="") as f:
        return list(csv.DictReader(f))


def test_the_layouts_paths_and_partitions_are_the_packages() -> None:
    from bioscan_dataset.bioscan5m import BIOSCAN5M, VALID_SPLITS

    assert tuple(VALID_SPLITS) == layout_module.PARTITIONS
    assert Path(BIOSCAN5M.base_folder, BIOSCAN5M.meta["filename"]) == layout_module.METADATA
    assert Path(BIOSCAN5M.base_folder, "images") == layout_module.IMAGES
    assert CONF["partitions"] == layout_module.DEFAULT_PARTITIONS


def test_the_package_reads_the_miniature(mini: Path) -> None:
    from bioscan_dataset import BIOSCAN5M

    class Mini(BIOSCAN5M):  # the md5 sums it checks are the full data set's; presence is what the layout owns
        def _check_integrity(self, verbose: int = 1) -> bool:
            return os.path.isfile(self.metadata_path) and os.path.isdir(self.image_dir)

    rows = _rows(mini)
    data = Mini(str(mini), split="all", target_type="species", target_format="text", output_format="dict")
    assert len(data) == len(rows) and Path(data.image_dir) == mini / IMAGES
    for i, row in enumerate(rows):
        expected = f"{row['split']}/{row['chunk'] + '/' if row['chunk'] else ''}{row['processid']}.jpg"
        assert Path(data.metadata["image_path"].iloc[i]).as_posix() == expected
        if row["processid"] == "DOOR0001-24":
            with pytest.raises(FileNotFoundError):
                data[i]
            continue
        sample = data[i]
        assert sample["image"].size == (16, 12)
        assert (sample["dna"] if isinstance(sample["dna"], str) else "") == row["dna_barcode"][:660]
        assert (sample["species"] if isinstance(sample["species"], str) else "") == row["species"]
    seen = Mini(str(mini), split="seen", modality=("dna",), target_type=[])
    assert set(seen.metadata["split"]) == {"train", "val", "test"}


def test_scan_gives_the_species_splits_and_partitions_of_the_csv(mini: Path) -> None:
    mapping = CONF["partitions"]
    expected: dict[str, tuple[str, str, str]] = {}
    for row in _rows(mini):
        if row["split"] not in mapping or mapping[row["split"]] is None:
            continue
        if not row["species"] or not row["dna_barcode"]:
            continue
        rel = Path(row["split"], row["chunk"], row["processid"] + ".jpg")
        if (mini / IMAGES / rel).is_file():
            expected[rel.as_posix()] = (row["species"].replace(" ", "_"), mapping[row["split"]], row["split"])
    index, problems = _scan(mini)
    assert problems == []
    got = {
        p: (index.class_names[lab], split, part)
        for p, lab, split, part in zip(index.paths, index.labels, index.splits, index.partitions, strict=True)
    }
    assert got == expected
    assert sorted(index.class_names) == sorted(s.replace(" ", "_") for s in SEEN + UNSEEN + HELDOUT)
    assert index.root == mini / IMAGES and all((index.root / p).is_file() for p in index.paths)
    # Only seen species train; the unseen and held-out species are test images of species without training images.
    trained = {index.class_names[c] for c in set(index.labels[index.splits == "train"].tolist())}
    assert trained == {s.replace(" ", "_") for s in SEEN}
    assert not any(index.groups) and index.locations["Megaselia_abdita"] == "Megaselia abdita"


def test_each_door_is_counted_and_named_with_its_processid(mini: Path) -> None:
    index, _ = _scan(mini)
    named = {item.item: item.reason for item in index.skipped_items}
    assert named["DOOR0001-24"].startswith("image file missing: train/")
    assert named["DOOR0002-24"].startswith("no DNA barcode")
    assert named["DOOR0003-24"] == "no species"
    assert named["DOOR0004-24"].startswith("unknown split value 'holdout'")
    n_pretrain = sum(row["split"] == "pretrain" for row in _rows(mini))
    assert named["partition pretrain"].startswith(f"{n_pretrain} records")
    assert index.skipped == {
        "records whose image file is missing": 1,
        "records without a DNA barcode": 1,
        "records without species": 1,
        "records with an unknown split value": 1,
        "records of partition pretrain (data.partitions.pretrain=null)": n_pretrain,
    }
    assert set(DOORS) <= set(named)


def test_a_barcode_with_ambiguity_codes_is_still_a_record(mini: Path) -> None:
    index, _ = _scan(mini)
    ambiguous = [r["processid"] for r in _rows(mini) if set(r["dna_barcode"]) - set("ACGT") and r["species"]]
    assert len(ambiguous) == 3
    assert all(any(p.endswith(f"/{pid}.jpg") for p in index.paths) for pid in ambiguous)


def test_partitions_map_onto_splits_as_configured(mini: Path) -> None:
    partitions = {**CONF["partitions"], "key_unseen": "train", "other_heldout": None}
    index, _ = _scan(mini, partitions=partitions)
    assert set(index.splits[index.partitions == "key_unseen"]) == {"train"}
    assert "other_heldout" not in set(index.partitions)
    assert index.skipped[
        "records of partition other_heldout (data.partitions.other_heldout=null)"
    ] == 2 * len(HELDOUT)


def test_classes_dna_keeps_the_species_with_dna_and_names_the_others(mini: Path) -> None:
    dna = {"Megaselia_abdita", "Drosophila_funebris"}
    index, problems = _scan(mini, ScanRequest(classes="dna", dna_species=dna))
    assert problems == [] and set(index.class_names) == dna and index.no_dna == []
    without = {i.item for i in index.skipped_items if "without DNA" in i.reason}
    assert without == {s.replace(" ", "_") for s in SEEN + UNSEEN + HELDOUT} - dna
    listed, problems = _scan(mini, ScanRequest(classes=["Drosophila funebris", "Musca domestica"]))
    assert listed.class_names == ["Drosophila_funebris"]
    assert len(problems) == 1 and problems[0].startswith("data.classes names Musca_domestica")


def test_the_layouts_barcodes_read_as_a_table_cover_its_species(mini: Path) -> None:
    from visgen.genetics.table import read_barcode_table

    layout = Bioscan5mLayout.from_config(_data(mini), cache_dir=mini)
    index, _ = layout.scan(ScanRequest(classes="all"))
    table = read_barcode_table(**layout.barcode_table(), iupac="drop")
    assert {r.species for r in table.records} == set(index.class_names)
    by_id = {r.id: r.sequence for r in table.records}
    rows = {r["processid"]: r for r in _rows(mini)}
    for path in index.paths:
        assert by_id[Path(path).stem] == "".join(
            b for b in rows[Path(path).stem]["dna_barcode"].lower() if b in "acgt"
        )


def test_no_species_with_dna_is_one_problem_naming_classes_all(mini: Path) -> None:
    index, problems = _scan(mini, ScanRequest(classes="dna"))  # the shipped 18S file: foraminifera only
    assert index is None and len(problems) == 1
    assert problems[0].startswith("no BIOSCAN-5M species has DNA in genetics.fasta (20 species")
    assert "data.classes=all" in problems[0]


def test_importing_the_layouts_loads_neither_torch_nor_the_package() -> None:
    # The config check asks the layout's problems() before Lightning loads; the package imports torch.
    probe = "import sys, visgen.data.layouts; print([m for m in ('torch', 'bioscan_dataset') if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_max_records_reads_only_the_first_rows(mini: Path) -> None:
    index, _ = _scan(mini, max_records=10)
    first = [r["processid"] for r in _rows(mini)[:10]]
    assert sorted(Path(p).stem for p in index.paths) == sorted(first)


def test_on_bad_image_error_makes_a_missing_image_and_an_unknown_split_problems(mini: Path) -> None:
    _, problems = _scan(mini, ScanRequest(classes="all", on_bad_image="error"))
    assert len(problems) == 2
    assert problems[0].startswith("1 records with an unknown split value (e.g. DOOR0004-24)")
    assert problems[1].startswith("1 records whose image file is missing (e.g. DOOR0001-24)")


def test_a_missing_data_set_is_one_line_with_the_package_download(tmp_path: Path) -> None:
    (problem,) = Bioscan5mLayout.problems(_data(tmp_path))
    assert problem.startswith(f"data.root={tmp_path}: no BIOSCAN-5M data set there")
    assert "from bioscan_dataset import BIOSCAN5M; BIOSCAN5M(" in problem and "download=True" in problem
    # The split it downloads is the partitions the mapping uses: not the pretraining images (mapped to null).
    assert "split='train+val+test+key_unseen+val_unseen+test_unseen+other_heldout'" in problem
    with pytest.raises(UserInputError, match="no BIOSCAN-5M data set there"):
        Bioscan5mLayout.from_config(_data(tmp_path), cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("override", "start"),
    [
        ({"partitions": {"train": "train", "holdout": "test"}}, "data.partitions.holdout: not a BIOSCAN-5M"),
        ({"partitions": {"train": "training"}}, "data.partitions.train=training: not a split"),
        ({"partitions": dict.fromkeys(CONF["partitions"])}, "data.partitions maps every partition to null"),
        ({"max_records": 0}, "data.max_records=0: must be a positive"),
        ({"image_package": "cropped_512"}, "data.image_package=cropped_512: unknown"),
    ],
)
def test_a_bad_setting_is_one_line_naming_its_key(override: dict[str, Any], start: str, mini: Path) -> None:
    (problem,) = Bioscan5mLayout.problems(_data(mini, **override))
    assert problem.startswith(start)


def test_data_check_reports_every_door(
    mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["data", "check", "--source", "bioscan5m", str(mini), "--json", str(tmp_path / "r.json")])
    text = capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and report["problems"] == []
    for pid in DOORS:
        assert f"  skipped {pid}: " in text
    # By hand from the fixture: 12 seen species with 3..6 train images (54), 1 val and 2 test each; 5 unseen x 6
    # and 3 held out x 2 test images; the three doors in train are left out.
    assert "20 species; 54 train, 12 val, 60 test images" in text
    assert "records without species" in text and "skipped partition pretrain:" in text
    # The unseen and held-out species have no training image by design: a note, not a problem.
    (note,) = [n for n in report["notes"] if "by the data set's own partitions" in n]
    assert note.endswith(", ".join(sorted(s.replace(" ", "_") for s in UNSEEN + HELDOUT)))


def test_run_py_on_a_missing_data_set_is_one_error_line(tmp_path: Path) -> None:
    command = [sys.executable, "run.py", "+experiment=ltr", "data=bioscan5m", f"data.root={tmp_path}/nowhere",
               f"hydra.run.dir={tmp_path}/out"]  # fmt: skip
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(errors) == 1
    assert errors[0].startswith(f"error: data.root={tmp_path}/nowhere: no BIOSCAN-5M data set there")
    assert "BIOSCAN5M(" in errors[0] and "download=True" in errors[0]


@pytest.mark.slow
def test_a_tiny_training_run_on_the_miniature(mini: Path, tmp_path: Path) -> None:
    """``python run.py`` on the miniature, pretraining only (the GZSL stage on it: tests/run/test_gzsl_bioscan5m.py)."""
    command = [
        sys.executable, "run.py", "+experiment=ltr", "data=bioscan5m", f"data.root={mini}", "profile=quick",
        "stages=[pretrain]", "data.image_size=32", "data.batch_size=12", "data.m_per_class=2",
        "data.num_workers=0", "model.net.trunk=resnet18", "trainer.accelerator=cpu", "trainer.max_epochs=1",
        "trainer.check_val_every_n_epoch=1", "callbacks.progress_bar=null", f"cache_dir={tmp_path}/cache",
        f"hydra.run.dir={tmp_path}/out",
    ]  # fmt: skip
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["status"] == "ok" and record["data"]["source"] == "bioscan5m"
    # The partitions play their parts: the test split is the seen test images (12 x 2) and the unseen species'
    # test_unseen queries (5 x 2); their keys, their validation queries and other_heldout are no test queries.
    assert record["data"]["split_sizes"] == {"train": 54, "val": 12, "test": 34}
    assert record["data"]["skipped"]["records without species"] == 1
    metrics = json.loads((tmp_path / "out" / "pretrain" / "metrics.json").read_text())
    # The KNN gallery is the train split and the queries the test split (unseen species included).
    assert (metrics["n_gallery"], metrics["n_queries"], metrics["error_tree"]) == (54, 34, "taxonomy")
