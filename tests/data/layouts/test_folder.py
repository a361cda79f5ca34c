"""Folder scanning: class selection, name forms, splits, manifest, and every bad-input case."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visgen.data.layouts.folder import (
    LITTER,
    known_species,
    normalise_species_name,
    scan_image_folder,
    stratified_split,
)
from visgen.errors import UserInputError


def test_scan_tiny_folder_orders_classes_by_dna_id(
    tiny_image_folder: Path, tiny_counts: dict[str, int]
) -> None:
    index = scan_image_folder(tiny_image_folder)
    _, dna = known_species()
    # DNA order (paper class ids): Globigerina_bulloides=3, ruber=11, menardii=16, pelagica=23, universa=27, iota=30.
    assert index.class_names == [n for n in dna if n in tiny_counts]
    assert index.class_names[:2] == ["Globigerina_bulloides", "Globigerinoides_ruber"]
    assert len(index.paths) == sum(tiny_counts.values()) == 37
    for c, name in enumerate(index.class_names):
        assert (index.labels == c).sum() == tiny_counts[name]
        assert all(p.startswith(name + "/") for p in np.asarray(index.paths)[index.labels == c])
    assert index.scale == 1.0 and index.skipped == {}


def test_split_keeps_every_species_in_every_split(
    tiny_image_folder: Path, tiny_counts: dict[str, int]
) -> None:
    index = scan_image_folder(tiny_image_folder)
    for split in ("train", "val", "test"):
        counts = index.counts(split)
        for c, name in enumerate(index.class_names):
            if tiny_counts[name] >= 3:
                assert counts[c] >= 1, (split, name)
    iota = index.class_names.index("Tenuitella_iota")  # 2 images: one train, one test
    assert (index.counts("train")[iota], index.counts("val")[iota], index.counts("test")[iota]) == (1, 0, 1)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, (1, 0, 0)),
        (2, (1, 0, 1)),
        (3, (1, 1, 1)),
        (4, (2, 1, 1)),
        (10, (7, 1, 2)),
        (100, (70, 10, 20)),
        (5914, (4140, 591, 1183)),
    ],
)
def test_stratified_split_sizes(n: int, expected: tuple[int, int, int]) -> None:
    splits = stratified_split(np.zeros(n, dtype=np.int64), ["Globigerinoides_ruber"], seed=3)
    assert tuple(int((splits == s).sum()) for s in ("train", "val", "test")) == expected


def test_split_is_seeded_and_per_species_independent() -> None:
    labels = np.repeat([0, 1], 50)
    a = stratified_split(labels, ["A_a", "B_b"], seed=1)
    assert np.array_equal(a, stratified_split(labels, ["A_a", "B_b"], seed=1))
    assert not np.array_equal(a, stratified_split(labels, ["A_a", "B_b"], seed=2))
    # Species B_b alone gets the same split as in the pair: adding a species changes nobody else.
    alone = stratified_split(np.zeros(50, dtype=np.int64), ["B_b"], seed=1)
    assert np.array_equal(a[50:], alone)


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("12 - Globigerinoides ruber", "Globigerinoides_ruber"),
        ("Orbulina universa", "Orbulina_universa"),
        ("3_Globigerina_bulloides", "Globigerina_bulloides"),
        ("globorotalia  MENARDII", "Globorotalia_menardii"),
    ],
)
def test_folder_name_forms(tmp_path: Path, folder: str, name: str) -> None:
    assert normalise_species_name(folder) == name
    (tmp_path / folder).mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / folder / "a.png")
    index = scan_image_folder(tmp_path)
    assert index.class_names == [name]
    assert index.paths == [f"{folder}/a.png"]


def test_a_typo_folder_is_left_out_of_dna_with_a_count_and_a_suggestion(
    tiny_image_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tiny_image_folder / "Globigerinoides_rubber").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tiny_image_folder / "Globigerinoides_rubber" / "a.png")
    index = scan_image_folder(tiny_image_folder)
    assert "Globigerinoides_rubber" not in index.class_names and len(index.paths) == 37
    assert index.skipped == {"species folders without DNA (data.classes=all keeps them)": 1}
    assert "did you mean 'Globigerinoides_ruber'?" in caplog.text


def test_duplicate_species_folders_raise(tiny_image_folder: Path) -> None:
    (tiny_image_folder / "11 - Globigerinoides ruber").mkdir()
    with pytest.raises(UserInputError, match="merge the two folders"):
        scan_image_folder(tiny_image_folder)


def test_class_selection(tiny_image_folder: Path) -> None:
    (tiny_image_folder / "Globorotalia_crassaformis").mkdir()  # no DNA
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(
        tiny_image_folder / "Globorotalia_crassaformis" / "x.png"
    )
    dna = scan_image_folder(tiny_image_folder)
    assert "Globorotalia_crassaformis" not in dna.class_names and dna.no_dna == []
    every = scan_image_folder(tiny_image_folder, classes="all")
    assert every.class_names[-1] == "Globorotalia_crassaformis" and len(every.class_names) == 7
    assert every.no_dna == ["Globorotalia_crassaformis"]
    chosen = scan_image_folder(tiny_image_folder, classes=["Orbulina universa", "Tenuitella_iota"])
    assert chosen.class_names == ["Orbulina_universa", "Tenuitella_iota"]
    assert len(chosen.paths) == 8
    with pytest.raises(UserInputError, match="names Globigerinita_uvula but no folder holds it"):
        scan_image_folder(tiny_image_folder, classes=["Globigerinita_uvula"])
    with pytest.raises(UserInputError, match=r"data\.classes"):
        scan_image_folder(tiny_image_folder, classes="most")


def test_species_outside_the_table_come_from_the_folders_and_the_dna(tmp_path: Path) -> None:
    for name in ("Neogloboquadrina_humerosa", "Ammonia tepida", "morphotype 3"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / name / "a.png")
    # No DNA known for any of them: nothing has both, which is one problem naming the way out.
    with pytest.raises(UserInputError, match=r"no species has both images and DNA.*data\.classes=all"):
        scan_image_folder(tmp_path)
    index = scan_image_folder(tmp_path, dna_species=["Ammonia_tepida", "Neogloboquadrina_humerosa"])
    assert index.class_names == ["Ammonia_tepida", "Neogloboquadrina_humerosa"]
    every = scan_image_folder(tmp_path, classes="all", dna_species=["Ammonia_tepida"])
    assert every.class_names == ["Ammonia_tepida", "Morphotype_3", "Neogloboquadrina_humerosa"]
    assert every.no_dna == ["Morphotype_3", "Neogloboquadrina_humerosa"]


def test_a_synonym_named_folder_maps_like_the_fasta_header(tiny_image_folder: Path) -> None:
    (tiny_image_folder / "07 - Trilobatus sacculifer").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(
        tiny_image_folder / "07 - Trilobatus sacculifer" / "a.png"
    )
    synonyms = {"Trilobatus sacculifer": "Globigerinoides sacculifer"}
    index = scan_image_folder(tiny_image_folder, synonyms=synonyms)
    assert "Globigerinoides_sacculifer" in index.class_names
    assert index.locations["Globigerinoides_sacculifer"] == "07 - Trilobatus sacculifer"


def test_every_scan_problem_is_reported_in_one_message(tiny_image_folder: Path) -> None:
    (tiny_image_folder / "11 - Globigerinoides ruber").mkdir()
    (tiny_image_folder / "Orbulina_universa" / "notes.txt").write_text("x")
    with pytest.raises(UserInputError) as err:
        scan_image_folder(
            tiny_image_folder, classes=["Orbulina_universa", "Globigerinita_uvula", "Orbulina universa"],
            on_bad_image="error",
        )  # fmt: skip
    text = str(err.value)
    assert "4 problems, all found before training" in text and "\n" not in text
    for part in (
        "merge the two folders",
        "lists Orbulina_universa 2 times",
        "Globigerinita_uvula",
        "notes.txt",
    ):
        assert text.count(part) == 1, part


def test_empty_folder_and_non_image_file(tiny_image_folder: Path) -> None:
    (tiny_image_folder / "Candeina_nitida").mkdir()
    (tiny_image_folder / "Orbulina_universa" / "notes.txt").write_text("scale bar 100 um")
    (tiny_image_folder / "Orbulina_universa" / ".DS_Store").write_bytes(b"\0")
    (tiny_image_folder / "Orbulina_universa" / "Thumbs.db").write_bytes(b"\0")
    index = scan_image_folder(tiny_image_folder)
    assert index.skipped == {"empty species folder": 1, "non-image file": 1, LITTER: 2}
    # Every skip is named with its path and reason, except the litter, which is only counted.
    assert {(s.item, s.reason) for s in index.skipped_items} == {
        ("Candeina_nitida", "empty species folder"),
        ("Orbulina_universa/notes.txt", "non-image file"),
    }
    assert "Candeina_nitida" not in index.class_names and len(index.paths) == 37
    assert "skipped 1 (empty species folder)" in index.summary()
    with pytest.raises(UserInputError, match=r"Candeina_nitida: empty species folder; add images"):
        scan_image_folder(tiny_image_folder, on_bad_image="error")
    (tiny_image_folder / "Candeina_nitida").rmdir()
    with pytest.raises(UserInputError, match=r"notes\.txt: non-image file; remove it"):
        scan_image_folder(tiny_image_folder, on_bad_image="error")


def test_manifest_splits_and_scale(tiny_image_folder: Path) -> None:
    index = scan_image_folder(tiny_image_folder)
    rows = ["path,species,split,size_px"]
    flipped = {"train": "test", "val": "val", "test": "train"}
    rows += [f"{p},x,{flipped[s]},1" for p, s in zip(index.paths[:-1], index.splits[:-1], strict=True)]
    rows.append("Globigerinoides_ruber/missing.png,Globigerinoides_ruber,train,1")
    (tiny_image_folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    (tiny_image_folder / "dataset.json").write_text(json.dumps({"source": "forams_sim", "scale": 0.05}))
    from_manifest = scan_image_folder(tiny_image_folder)
    assert from_manifest.scale == 0.05
    assert from_manifest.paths == index.paths[:-1]
    assert [flipped[s] for s in index.splits[:-1]] == from_manifest.splits.tolist()
    assert from_manifest.skipped == {"image not in manifest": 1, "manifest row without its image": 1}
    assert not from_manifest.extra_test.any()  # no extra_test column: nothing is a test-floor extra
    with pytest.raises(UserInputError, match=r"Tenuitella_iota_00001.png: image not in manifest"):
        scan_image_folder(tiny_image_folder, on_bad_image="error")
    (tiny_image_folder / index.paths[-1]).unlink()
    with pytest.raises(UserInputError, match=r"manifest row without its image; restore .*missing.png"):
        scan_image_folder(tiny_image_folder, on_bad_image="error")


def test_bad_manifest_and_root(tiny_image_folder: Path, tmp_path: Path) -> None:
    (tiny_image_folder / "manifest.csv").write_text("path,split\nGlobigerinoides_ruber/a.png,training\n")
    with pytest.raises(UserInputError, match=r"manifest.csv:2: split 'training'"):
        scan_image_folder(tiny_image_folder)
    (tiny_image_folder / "manifest.csv").write_text("file,split\n")
    with pytest.raises(UserInputError, match="columns 'path' and 'split'"):
        scan_image_folder(tiny_image_folder)
    # extra_test (ForamSim's test floor) is 0 or 1, and 1 only on a test row.
    for flag, split in (("2", "test"), ("1", "train")):
        (tiny_image_folder / "manifest.csv").write_text(f"path,split,extra_test\nG/a.png,{split},{flag}\n")
        with pytest.raises(
            UserInputError, match=rf"manifest.csv:2: extra_test '{flag}' with split '{split}'"
        ):
            scan_image_folder(tiny_image_folder)
    with pytest.raises(UserInputError, match="image folder not found"):
        scan_image_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no species folders"):
        scan_image_folder(tmp_path / "empty")


def test_species_scales_follow_the_generated_counts(tiny_image_folder: Path) -> None:
    # Globigerinoides_ruber has 5914 real images, Tenuitella_iota 8.
    meta = {"scale": 0.01, "counts": {"Globigerinoides_ruber": 59, "Tenuitella_iota": 5}}
    (tiny_image_folder / "dataset.json").write_text(json.dumps(meta))
    index = scan_image_folder(
        tiny_image_folder, classes=["Globigerinoides_ruber", "Tenuitella_iota", "Orbulina_universa"]
    )
    assert index.class_scale.tolist() == pytest.approx(
        [59 / 5914, 5 / 8, 0.01]
    )  # no count given: dataset scale


def test_a_misspelt_species_folder_left_out_for_lack_of_dna_says_did_you_mean(
    tiny_image_folder: Path,
) -> None:
    """Globorotalia_menardi/ beside Globorotalia_menardii in the FASTA is a typo, not a new species without DNA."""
    (tiny_image_folder / "Globorotalia_menardii").rename(tiny_image_folder / "Globorotalia_menardi")
    index = scan_image_folder(tiny_image_folder)
    assert "Globorotalia_menardi" not in index.class_names
    (item,) = [s for s in index.skipped_items if s.item == "Globorotalia_menardi"]
    assert "did you mean 'Globorotalia_menardii'?" in item.reason
    # A species whose name is like no FASTA species' gets no suggestion on its line.
    every = scan_image_folder(tiny_image_folder, classes="dna", dna_species=["Globigerinoides_ruber"])
    (iota,) = [s for s in every.skipped_items if s.item == "Tenuitella_iota"]
    assert iota.reason == "species folder without DNA; no FASTA species of this name"
