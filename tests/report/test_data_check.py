"""`visgen data check`: exit codes 0 / 1 / 2, and each kind of finding against a folder built to have it."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visgen.cli import main
from visgen.data.layouts.folder import FolderLayout
from visgen.report.data_check import audit, read_file_facts


def test_a_clean_folder_exits_0(tiny_image_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", str(tiny_image_folder)]) == 0
    text = capsys.readouterr().out
    assert "clean: no problems found" in text and "Globigerinoides_ruber" in text


@pytest.mark.parametrize("make", ["missing", "no folders", "nothing readable"])
def test_an_unusable_folder_exits_2(tmp_path: Path, make: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "data"
    if make != "missing":
        root.mkdir()
    if make == "nothing readable":
        (root / "Orbulina_universa").mkdir()
        (root / "Orbulina_universa" / "a.png").write_bytes(b"")
    assert main(["data", "check", str(root), "--json", str(tmp_path / "r.json")]) == 2
    assert "UNUSABLE" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["exit_code"] == 2


def test_file_facts_read_modes_sizes_and_reasons(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((5, 7), np.uint16)).save(tmp_path / "a.png")
    Image.new("CMYK", (3, 4)).save(tmp_path / "b.jpg")
    (tmp_path / "c.png").write_text("hello")
    data = (tmp_path / "b.jpg").read_bytes()
    (tmp_path / "d.jpg").write_bytes(data[:-2])  # JPEG without its end marker
    facts = {f.path: f for f in (read_file_facts(tmp_path, n) for n in ("a.png", "b.jpg", "c.png", "d.jpg"))}
    assert (facts["a.png"].mode, facts["a.png"].size, facts["a.png"].reason) == ("I;16", (7, 5), None)
    assert (facts["b.jpg"].mode, facts["b.jpg"].reason) == ("CMYK", None)
    assert facts["c.png"].reason == "not an image"
    assert facts["d.jpg"].reason == "truncated or corrupt image (JPEG without end marker)"


def test_duplicates_across_species_and_groups_across_splits_are_problems(tiny_image_folder: Path) -> None:
    shutil.copy(
        tiny_image_folder / "Orbulina_universa" / "Orbulina_universa_00000.png",
        tiny_image_folder / "Tenuitella_iota" / "copy.png",
    )
    rows = [("Orbulina_universa/Orbulina_universa_00000.png", "train", "s0"),
            ("Orbulina_universa/Orbulina_universa_00001.png", "test", "s0")]  # fmt: skip
    with open(tiny_image_folder / "groups.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "split", "group"), *rows])
    report = audit(
        FolderLayout(tiny_image_folder, manifest=tiny_image_folder / "groups.csv"), dna_species=None
    )
    assert report.exit_code() == 1
    assert report.groups_crossing == [{"group": "Orbulina_universa/s0", "splits": ["test", "train"]}]
    assert any("1 groups lie in more than one split" in p for p in report.problems)
    # Only the two listed images are in the manifest; the copy is unlisted (skipped, counted).
    assert report.skipped["image not in manifest"] == 36
    report = audit(FolderLayout(tiny_image_folder), dna_species=None)
    (dupe,) = report.duplicates
    assert dupe["crosses_species"] and dupe["species"] == ["Orbulina_universa", "Tenuitella_iota"]
    assert any(p.startswith("identical images labelled as different species") for p in report.problems)


def test_data_check_names_the_misspelt_empty_and_stray_items(
    tiny_image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user's first folder: one species folder misspelt, one empty, a stray note, a broken image, litter."""
    root = tiny_image_folder
    (root / "Globorotalia_menardii").rename(root / "Globorotalia_menardi")  # the FASTA spells it menardii
    (root / "Candeina_nitida").mkdir()
    (root / "Orbulina_universa" / "notes.txt").write_text("scale bar 100 um")
    (root / "Orbulina_universa" / ".DS_Store").write_bytes(b"\0")
    broken = next((root / "Globigerina_bulloides").iterdir())
    broken.write_bytes(b"")
    assert main(["data", "check", str(root), "--json", str(tmp_path / "r.json")]) == 1
    text = capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    # The misspelt folder: "did you mean" on its own line of the table, and a problem naming the folder.
    (line,) = [x for x in text.splitlines() if x.startswith("Globorotalia_menardi ")]
    assert "did you mean 'Globorotalia_menardii'?" in line
    assert any(p.startswith("Globorotalia_menardi: ") and "menardii" in p for p in report["problems"])
    # Every skipped item is named with its path and reason, in the text and in the JSON; litter only counted.
    named = {(s["item"], s["reason"]) for s in report["skipped_items"]}
    assert named == {
        ("Candeina_nitida", "empty species folder"),
        ("Orbulina_universa/notes.txt", "non-image file"),
    }
    assert "  skipped Candeina_nitida: empty species folder" in text
    assert "  skipped Orbulina_universa/notes.txt: non-image file" in text
    assert ".DS_Store" not in " ".join(s["item"] for s in report["skipped_items"])
    assert report["skipped"]["operating-system litter (.DS_Store, Thumbs.db, ._*)"] == 1
    rel = broken.relative_to(root).as_posix()
    assert [rel, "zero-byte file"] in report["unreadable"] and f"{rel}: zero-byte file" in text
