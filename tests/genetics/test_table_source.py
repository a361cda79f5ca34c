"""``genetics.source=table``: a barcode table feeds the anchors as the FASTA with the same records does."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.pipeline_fixtures import compose_cfg
from visgen.errors import UserInputError
from visgen.genetics.dataset import fasta_species, load_genetic_anchors
from visgen.genetics.encoders.kmer import KmerEncoder
from visgen.genetics.encoders.sgt import SgtEncoder
from visgen.genetics.fasta import FastaResult, read_fasta
from visgen.genetics.table import iter_barcode_table, read_barcode_table
from visgen.run.anchors import genetics_options
from visgen.run.checks import check_config

COLUMNS = {"id_column": "processid", "species_column": "species", "sequence_column": "dna_barcode"}
SYN = {"Trilobatus sacculifer": "Globigerinoides sacculifer"}


def same_records(tmp_path: Path) -> tuple[Path, Path]:
    """A FASTA and a TSV holding the same records (with an ambiguous, a duplicate and an excluded one)."""
    rng = np.random.default_rng(5)
    names = ["Orbulina universa", "Trilobatus sacculifer", "Globigerinoides sacculifer", "Candeina nitida"]
    rows = [(f"P{i}", names[i % 4], "".join(rng.choice(list("acgt"), 40 + i))) for i in range(17)]
    rows += [
        ("P90", "Candeina nitida", "acgtnnacgt"),
        ("P1", "Orbulina universa", "acgt"),
        ("X1", names[0], "acgt"),
    ]
    fasta = tmp_path / "s.fasta"
    fasta.write_text("".join(f">{i} {s}\n{q}\n" for i, s, q in rows))
    table = tmp_path / "s.tsv"
    with table.open("w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(["processid", "bin", "species", "dna_barcode"])
        writer.writerows((i, "BOLD:x", s, q) for i, s, q in rows)
    return fasta, table


@pytest.mark.parametrize(("encoder", "reduce"), [(SgtEncoder(), "mean"), (KmerEncoder(k=3), "medoid")])
def test_table_source_gives_the_fasta_sources_anchors(tmp_path: Path, encoder, reduce: str) -> None:
    fasta, table = same_records(tmp_path)
    options = {"synonyms": SYN, "exclude": ["X1"], "reduce": reduce, "encoder": encoder}
    from_fasta = load_genetic_anchors(fasta, **options, cache_dir=tmp_path / "c")
    from_table = load_genetic_anchors(
        tmp_path / "unused.fasta", source="table", table={"path": str(table), **COLUMNS}, **options,
        cache_dir=tmp_path / "c",
    )  # fmt: skip
    assert (
        from_table.species
        == from_fasta.species
        == ["Candeina_nitida", "Globigerinoides_sacculifer", "Orbulina_universa"]
    )
    np.testing.assert_array_equal(from_table.anchors, from_fasta.anchors)
    np.testing.assert_array_equal(from_table.counts, from_fasta.counts)
    assert from_table.name_map() == from_fasta.name_map()
    assert from_table.summary.split(": ", 1)[1] == from_fasta.summary.split(": ", 1)[1]
    assert (
        "skipped 1 (IUPAC ambiguity codes), skipped 1 (duplicate accession), skipped 1 (excluded by config)"
        in (from_table.summary)
    )
    assert len(list((tmp_path / "c").glob("*.npz"))) == 2  # two cache entries: the source is part of the key
    again = load_genetic_anchors(
        tmp_path / "unused.fasta", source="table", table={"path": str(table), **COLUMNS}, **options,
        cache_dir=tmp_path / "c",
    )  # fmt: skip
    np.testing.assert_array_equal(again.anchors, from_table.anchors)
    assert fasta_species(tmp_path / "unused.fasta", source="table", table={"path": str(table), **COLUMNS}) == [
        "Candeina_nitida", "Globigerinoides_sacculifer", "Orbulina_universa", "Trilobatus_sacculifer",
    ]  # fmt: skip


def test_lazy_table_reader_counts_what_read_barcode_table_counts(tmp_path: Path) -> None:
    _, table = same_records(tmp_path)
    read, tally = read_barcode_table(table, **COLUMNS, exclude=["X1"]), FastaResult(path=table)
    assert list(iter_barcode_table(table, tally, **COLUMNS, exclude=["X1"])) == read.records
    assert (tally.n_read, tally.skipped) == (read.n_read, read.skipped) == (20, {
        "IUPAC ambiguity codes": 1, "duplicate accession": 1, "excluded by config": 1,
    })  # fmt: skip
    assert len(read.records) == len(read_fasta(same_records(tmp_path)[0], exclude=["X1"]).records) == 17


def test_a_table_source_without_its_columns_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"^genetics.table: no id_column, species_column"):
        load_genetic_anchors(
            tmp_path / "x.fasta", encoder=SgtEncoder(), source="table", table={"path": "t.tsv"}
        )
    with pytest.raises(UserInputError, match=r"^genetics.source=excel: unknown; use fasta or table$"):
        fasta_species(tmp_path / "x.fasta", source="excel")


def test_config_check_names_a_missing_table_file_or_column(tmp_path: Path) -> None:
    _, table = same_records(tmp_path)
    base = ["+experiment=ltr_align", "genetics.source=table"]
    with pytest.raises(UserInputError) as err:
        check_config(compose_cfg([*base, f"genetics.table.path={tmp_path / 'none.tsv'}"]))
    assert str(err.value) == (
        f"genetics.source=table: genetics.table.path={tmp_path / 'none.tsv'}: no such file; give the barcode "
        "table's path (CSV or TSV, plain or .gz)"
    )
    with pytest.raises(UserInputError) as err:
        check_config(
            compose_cfg([*base, f"genetics.table.path={table}", "genetics.table.species_column=taxon"])
        )
    assert str(err.value) == (
        "genetics.source=table: genetics.table.species_column=taxon: s.tsv has no such column (columns: processid, "
        "bin, species, dna_barcode); use one of them"
    )
    with pytest.raises(
        UserInputError, match=r"^genetics.source=tabel: unknown value; use one of fasta, table$"
    ):
        check_config(compose_cfg(["+experiment=ltr_align", "genetics.source=tabel"]))
    cfg = compose_cfg([*base, f"genetics.table.path={table}"])
    check_config(cfg)  # a good table passes
    _, options = genetics_options(cfg)
    assert options["source"] == "table" and options["table"] == {"path": str(table), **COLUMNS}
    _, options = genetics_options(compose_cfg(["+experiment=ltr_align"]))
    assert options["source"] == "fasta" and "table" not in options
