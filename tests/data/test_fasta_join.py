"""Any FASTA: a COI file with BOLD-style headers joins with the folders through the one synonym table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from visgen.cli import main
from visgen.data.layouts.folder import scan_image_folder
from visgen.genetics.dataset import fasta_species

RULE = r"^(?P<id>[^|]+)\|(?P<species>[^|]+)\|"
SYNONYMS = {"Trilobatus sacculifer": "Globigerinoides sacculifer"}


def write_data(root: Path) -> Path:
    for s, folder in enumerate(("Trilobatus_sacculifer", "Ammonia tepida", "Elphidium_sp.1")):
        (root / folder).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * i + 7 * s, np.uint8)).save(root / folder / f"{i}.png")
    fasta = root.parent / "coi.fasta"
    fasta.write_text(
        ">BOLD1|Trilobatus sacculifer|COI-5P\nACGTACGTAAACCCGGGTTT\n"
        ">BOLD2|Ammonia tepida|COI-5P\nACGGGTTTAAACCCACGTAC\n"
        ">BOLD3|Bolivina variabilis|COI-5P\nTTTTACGGGAAACCCACGTA\n"
    )
    return fasta


def test_a_coi_fasta_with_a_header_regex_selects_the_species_with_dna(tmp_path: Path) -> None:
    fasta = write_data(tmp_path / "images")
    dna = fasta_species(fasta, header_rule=RULE, synonyms=SYNONYMS)
    assert dna == ["Ammonia_tepida", "Bolivina_variabilis", "Globigerinoides_sacculifer"]
    index = scan_image_folder(tmp_path / "images", dna_species=dna, synonyms=SYNONYMS)
    # Endless Forams species first (paper order), then the others by name.
    assert index.class_names == ["Globigerinoides_sacculifer", "Ammonia_tepida"]
    every = scan_image_folder(tmp_path / "images", classes="all", dna_species=dna, synonyms=SYNONYMS)
    assert every.no_dna == ["Elphidium_sp.1"]


def test_data_check_reads_the_fasta_with_the_given_header_rule(tmp_path: Path) -> None:
    fasta = write_data(tmp_path / "images")
    code = main(["data", "check", str(tmp_path / "images"), "--fasta", str(fasta), "--header-rule", RULE,
                 "--json", str(tmp_path / "r.json")])  # fmt: skip
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and report["problems"] == []
    # The shipped synonym table (conf/genetics/sgt.yaml) maps the Trilobatus folder as it maps the header.
    assert {r["species"]: r["dna"] for r in report["species"]} == {
        "Ammonia_tepida": True, "Globigerinoides_sacculifer": True, "Elphidium_sp.1": False,
    }  # fmt: skip
    assert report["dna_without_images"] == ["Bolivina_variabilis"]
