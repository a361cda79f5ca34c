"""FASTA edge cases, species rules, synonyms, skip/refuse policies and non-FASTA files."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from visgen.errors import UserInputError
from visgen.genetics import fasta as F
from visgen.genetics.fasta import normalise_species, read_fasta
from visgen.resources import data_path

SYN = {"Trilobatus sacculifer": "Globigerinoides sacculifer"}


def _write(
    tmp_path: Path, text: str, name: str = "x.fasta", *, gz: bool = False, newline: str = "\n"
) -> Path:
    path = tmp_path / name
    data = text.replace("\n", newline).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


CLEAN = ">AB1 Globigerina bulloides 18S rRNA\nacgtacgt\nacgt\n>AB2 Trilobatus sacculifer\nGGGCCC\n"


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_plain_gz_and_line_ends_give_the_same_records(tmp_path: Path, gz: bool, newline: str) -> None:
    name = "x.fa.gz" if gz else "x.fa"
    result = read_fasta(_write(tmp_path, CLEAN, name, gz=gz, newline=newline), synonyms=SYN)
    assert [(r.id, r.species, r.sequence) for r in result.records] == [
        ("AB1", "Globigerina_bulloides", "acgtacgtacgt"),
        ("AB2", "Globigerinoides_sacculifer", "gggccc"),
    ]
    assert result.records[1].genetic_species == "Trilobatus_sacculifer"
    assert result.skipped == {} and result.n_read == 2


def test_wrapped_lowercase_blank_lines_nbsp_double_spaces(tmp_path: Path) -> None:
    text = (
        "\n; a comment line\n>AB1\u00a0Neogloboquadrina  dutertrei \n\nACGT\n  acgt  \n\n"
        ">AB2   globigerinoides   RUBER-albus\tclone 3\nac gt\u00a0ac\n"
    )
    result = read_fasta(
        _write(tmp_path, text), synonyms={"Globigerinoides ruber-albus": "Globigerinoides_ruber"}
    )
    assert [(r.id, r.species, r.sequence) for r in result.records] == [
        ("AB1", "Neogloboquadrina_dutertrei", "acgtacgt"),
        ("AB2", "Globigerinoides_ruber", "acgtac"),
    ]


def test_latin1_nbsp_and_alignment_gaps(tmp_path: Path) -> None:
    path = tmp_path / "legacy.fasta"
    path.write_bytes(b">AB1\xa0Orbulina universa\nac-gt..acgt\n")
    (record,) = read_fasta(path).records
    assert (record.species, record.sequence) == ("Orbulina_universa", "acgtacgt")


def test_regex_header_rule(tmp_path: Path) -> None:
    path = _write(tmp_path, ">sp|Q1|Orbulina_universa|x\nacgt\n>sp|Q2|\nacgt\n")
    result = read_fasta(path, header_rule=r"^sp\|(?P<id>[^|]+)\|(?P<species>[^|]*)")
    assert [(r.id, r.species) for r in result.records] == [("Q1", "Orbulina_universa")]
    assert result.skipped == {F.NO_SPECIES: 1}


@pytest.mark.parametrize("rule", [r"(?P<id>\S+", r"(\S+) (.*)"])
def test_bad_header_rule_is_one_line(tmp_path: Path, rule: str) -> None:
    with pytest.raises(UserInputError, match="header_rule"):
        read_fasta(_write(tmp_path, CLEAN), header_rule=rule)


BAD = (
    ">OK1 Orbulina universa\nacgt\n"
    ">EMPTY Orbulina universa\n\n"
    ">OK1 Orbulina universa\nacgt\n"  # duplicate accession
    ">NOSP\nacgt\n"
    ">SP1 sp. 3\nacgt\n"  # not a binomial
    ">PROT Orbulina universa\nMKVLEEPQ\n"
    ">IUP Orbulina universa\nacgtnnacgtry\n"
    ">ONE Orbulina universa\na\n"
)


def test_every_skip_reason_is_counted(tmp_path: Path) -> None:
    result = read_fasta(_write(tmp_path, BAD))
    assert [r.id for r in result.records] == ["OK1"]
    assert result.n_read == 8
    assert result.skipped == {
        F.EMPTY: 1,
        F.DUPLICATE: 1,
        F.NO_SPECIES: 2,
        F.NOT_DNA: 1,
        F.AMBIGUOUS: 1,
        F.TOO_SHORT: 1,
    }
    assert result.summary() == (
        "x.fasta: read 8 records, kept 1, skipped 1 (IUPAC ambiguity codes), skipped 1 (duplicate accession), "
        "skipped 1 (empty sequence), skipped 2 (no species in header), skipped 1 (not DNA), skipped 1 (too short)"
    )


def test_iupac_drop_removes_only_the_codes(tmp_path: Path) -> None:
    result = read_fasta(
        _write(tmp_path, ">IUP Orbulina universa\nacgtnnacgtry\n>N Orbulina universa\nnna\n"), iupac="drop"
    )
    assert [(r.id, r.sequence) for r in result.records] == [("IUP", "acgtacgt")]
    assert result.skipped == {F.TOO_SHORT: 1}  # "nna" keeps one base: too short for a dinucleotide


def test_iupac_error_refuses_with_file_and_record(tmp_path: Path) -> None:
    path = _write(tmp_path, ">IUP Orbulina universa\nacgtn\n")
    with pytest.raises(UserInputError, match=r"x\.fasta: record 'IUP' has IUPAC.*iupac='skip'") as err:
        read_fasta(path, iupac="error")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "text, reason",
    [
        (">A Orbulina universa\n\n", F.EMPTY),
        (">A Orbulina universa\nacgt\n>A Orbulina universa\nacgt\n", F.DUPLICATE),
        (">A\nacgt\n", F.NO_SPECIES),
        (">A Orbulina universa\nMKVLE\n", F.NOT_DNA),
        (">A Orbulina universa\na\n", F.TOO_SHORT),
    ],
)
def test_on_bad_record_error_refuses_each_reason(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(UserInputError, match=f"record 'A': {reason}; ") as err:
        read_fasta(_write(tmp_path, text), on_bad_record="error")
    assert str(err.value).startswith(str(tmp_path / "x.fasta")) and "\n" not in str(err.value)


def test_exclude_is_counted_not_refused(tmp_path: Path) -> None:
    result = read_fasta(_write(tmp_path, CLEAN), exclude=["AB2"], on_bad_record="error")
    assert [r.id for r in result.records] == ["AB1"] and result.skipped == {F.EXCLUDED: 1}


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty"),
        (b"\n \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "HTML"),
        (b"acgtacgt\n>A Orbulina universa\nacgt\n", "before any '>' header"),
        (b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
    ],
)
def test_non_fasta_files_are_one_line_errors(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "input.fasta"
    path.write_bytes(content)
    with pytest.raises(UserInputError, match=match) as err:
        read_fasta(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_bad_policies(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no such FASTA file"):
        read_fasta(tmp_path / "nope.fasta")
    with pytest.raises(UserInputError, match="iupac"):
        read_fasta(_write(tmp_path, CLEAN), iupac="keep")
    with pytest.raises(UserInputError, match="on_bad_record"):
        read_fasta(_write(tmp_path, CLEAN), on_bad_record="ignore")
    with pytest.raises(UserInputError, match="synonyms"):
        read_fasta(_write(tmp_path, CLEAN), synonyms={"Trilobatus": "Globigerinoides sacculifer"})


def test_normalise_species() -> None:
    assert normalise_species("globigerinoides  RUBER-albus") == "Globigerinoides_ruber-albus"
    assert normalise_species("Orbulina_universa") == "Orbulina_universa"
    assert normalise_species("Orbulina\u00a0universa 18S") == "Orbulina_universa"
    assert normalise_species("Orbulina") == normalise_species("sp. 3") == normalise_species("") == ""


def test_shipped_fasta_reproduces_the_papers_join(genetics_cfg: dict) -> None:
    """Default config (synonyms, iupac=skip, exclude) -> exactly the 804-accession 32-class join."""
    result = read_fasta(data_path("foram_18S_rDNA.fasta"), synonyms=genetics_cfg["synonyms"],
                        iupac=genetics_cfg["iupac"], exclude=genetics_cfg["exclude"])  # fmt: skip
    assert result.n_read == 878
    assert result.skipped == {F.AMBIGUOUS: 24, F.EXCLUDED: 1}
    with open(data_path("image_dna_join.csv"), newline="") as fh:
        join = {row["accession"]: row["image_species"] for row in csv.DictReader(fh)}
    classes = set(join.values())
    ours = {r.id: r.species for r in result.records if r.species in classes}
    assert len(classes) == 32 and ours == join
