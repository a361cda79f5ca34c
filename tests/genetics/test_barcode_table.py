"""Barcode tables (CSV/TSV): the FASTA reader's records and skip reasons, row by row.

Oracles: the same rows written as a FASTA file and read by ``read_fasta`` (one policy, two formats), and
hand-listed expectations.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from tests.bioscan5m_fixtures import METADATA, write_mini_bioscan5m
from visgen.errors import UserInputError
from visgen.genetics.fasta import read_fasta
from visgen.genetics.table import NO_ID, read_barcode_table

#: (id, species, sequence): clean, IUPAC (n, r), a gap, lower case, a synonym, and one of each skip reason.
ROWS = [
    ("A1", "Megaselia abdita", "ACGTACGTAC"),
    ("A2", "Megaselia abdita", "ACGTNNNN"),
    ("A3", "Drosophila funebris", "ACRTACGT"),
    ("A4", "drosophila  FUNEBRIS", "acgt-acgt"),
    ("A5", "Trilobatus sacculifer", "GGCCTTAA"),
    ("A6", "Megaselia abdita", ""),  # empty sequence
    ("A1", "Megaselia abdita", "ACGT"),  # duplicate id
    ("A7", "", "ACGTACGT"),  # no species
    ("A8", "Megaselia abdita", "HELLO123"),  # not DNA
    ("A9", "Megaselia abdita", "A"),  # too short
    ("A10", "Megaselia abdita", "ACGTTT"),  # excluded below
]
SYNONYMS = {"Trilobatus sacculifer": "Globigerinoides sacculifer"}
KW = {"id_column": "processid", "species_column": "species", "sequence_column": "dna_barcode"}


def _write_table(path: Path, rows: list[tuple[str, str, str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(["processid", "genus", "species", "dna_barcode", "split"])
        for pid, species, seq in rows:
            writer.writerow([pid, species.split(" ")[0] if species else "", species, seq, "train"])
    return path


def _write_fasta(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text("".join(f">{pid} {species}\n{seq}\n" for pid, species, seq in rows))
    return path


@pytest.mark.parametrize("iupac", ["skip", "drop"])
def test_a_table_reads_as_the_same_rows_in_fasta_read(tmp_path: Path, iupac: str) -> None:
    table = read_barcode_table(
        _write_table(tmp_path / "t.csv", ROWS), **KW, synonyms=SYNONYMS, iupac=iupac, exclude={"A10"}
    )
    fasta = read_fasta(
        _write_fasta(tmp_path / "t.fasta", ROWS), synonyms=SYNONYMS, iupac=iupac, exclude={"A10"}
    )
    assert table.records == fasta.records
    assert table.skipped == fasta.skipped and table.n_read == fasta.n_read == len(ROWS)


def test_each_row_is_a_record_or_a_counted_skip(tmp_path: Path) -> None:
    result = read_barcode_table(
        _write_table(tmp_path / "t.csv", ROWS), **KW, synonyms=SYNONYMS, exclude={"A10"}
    )
    assert [(r.id, r.species, r.sequence) for r in result.records] == [
        ("A1", "Megaselia_abdita", "acgtacgtac"),
        ("A4", "Drosophila_funebris", "acgtacgt"),
        ("A5", "Globigerinoides_sacculifer", "ggccttaa"),
    ]
    assert result.records[2].genetic_species == "Trilobatus_sacculifer"
    assert result.skipped == {
        "IUPAC ambiguity codes": 2,
        "empty sequence": 1,
        "duplicate accession": 1,
        "no species in header": 1,
        "not DNA": 1,
        "too short": 1,
        "excluded by config": 1,
    }
    assert len(result.records) + sum(result.skipped.values()) == result.n_read


def test_csv_tsv_and_gzip_read_alike(tmp_path: Path) -> None:
    csv_path = _write_table(tmp_path / "t.csv", ROWS)
    tsv_path = _write_table(tmp_path / "t.tsv", ROWS, delimiter="\t")
    gz_path = tmp_path / "t.tsv.data"  # gzip is found by content, not by name
    gz_path.write_bytes(gzip.compress(tsv_path.read_bytes()))
    results = [read_barcode_table(p, **KW) for p in (csv_path, tsv_path, gz_path)]
    assert results[0].records and all(r.records == results[0].records for r in results)
    assert read_barcode_table(tsv_path, **KW, sep="\t").records == results[0].records


def test_iupac_error_and_a_bad_row_under_error_are_one_line(tmp_path: Path) -> None:
    path = _write_table(tmp_path / "t.csv", ROWS)
    with pytest.raises(UserInputError, match=r"t.csv: row 'A2' has IUPAC ambiguity codes"):
        read_barcode_table(path, **KW, iupac="error")
    with pytest.raises(UserInputError, match=r"t.csv: row 'A6': empty sequence"):
        read_barcode_table(path, **KW, iupac="drop", on_bad_record="error")
    no_id = _write_table(tmp_path / "n.csv", [("", "Megaselia abdita", "ACGT")])
    assert read_barcode_table(no_id, **KW).skipped == {NO_ID: 1}


def test_max_length_keeps_the_first_bases(tmp_path: Path) -> None:
    path = _write_table(tmp_path / "t.csv", [("A1", "Megaselia abdita", "ACGTACGTNNNN")])
    assert read_barcode_table(path, **KW, max_length=8).records[0].sequence == "acgtacgt"
    assert read_barcode_table(path, **KW).skipped == {"IUPAC ambiguity codes": 1}


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "no such barcode table"),
        ("", "empty table"),
        (
            "processid,species,barcode\nA1,Megaselia abdita,ACGT\n",
            r"no column 'dna_barcode' \(columns: processid",
        ),
        ('processid,species,dna_barcode\nA1,"Megaselia abdita,ACGT\n', "line 2: not readable as a table"),
    ],
)
def test_an_unusable_table_is_one_line(tmp_path: Path, content: str | None, match: str) -> None:
    path = tmp_path / "t.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserInputError, match=match):
        read_barcode_table(path, **KW)


def test_the_bioscan5m_metadata_is_a_barcode_table(tmp_path: Path) -> None:
    root = write_mini_bioscan5m(tmp_path / "mini")
    with (root / METADATA).open(newline="") as f:
        rows = list(csv.DictReader(f))
    expected = [
        (r["processid"], r["species"].replace(" ", "_"), r["dna_barcode"].lower())
        for r in rows
        if r["species"] and r["dna_barcode"] and set(r["dna_barcode"]) <= set("ACGT")
    ]
    result = read_barcode_table(root / METADATA, **KW, max_length=660)
    assert [(r.id, r.species, r.sequence) for r in result.records] == expected
    assert result.skipped == {"IUPAC ambiguity codes": 3, "empty sequence": 1, "no species in header": 6}
