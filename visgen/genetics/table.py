"""Read DNA barcodes from a table (CSV or TSV: one row per specimen) into the records the FASTA reader returns.

A metadata table such as BIOSCAN-5M's names the id, the species and the sequence in columns, so no header rule
is needed. Every row becomes a :class:`~visgen.genetics.fasta.SequenceRecord` or a counted skip, under the same
policies and skip reasons as :func:`~visgen.genetics.fasta.read_fasta` (IUPAC codes skipped, dropped or
refused; empty, duplicate, species-less, non-DNA and too-short rows), so whatever reads FASTA records reads
these. A species is spelled as an image class is (:func:`~visgen.genetics.species.canonical_species`'s rule:
genus + epithet, whole name when not a binomial), so a table's species meet the images of the same table.

Streams the file (plain or gzipped, detected by content): a table of millions of rows is never held in memory as text.
Pure Python, torch-free.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from visgen.errors import UserInputError
from visgen.genetics.fasta import (
    _FIXES,
    _GAPS,
    AMBIGUOUS,
    EXCLUDED,
    NO_SPECIES,
    FastaResult,
    SequenceRecord,
    _apply_policies,
    _check_policies,
    _problem,
    normalise_species,
    synonym_table,
)
from visgen.genetics.species import normalise_species_name

NO_ID = "no id"
_FIXES_TABLE = {**_FIXES, NO_ID: "give every row an id", NO_SPECIES: "fill in the species column"}


@contextmanager
def _open_text(path: Path) -> Iterator[TextIO]:
    """The file as text, gunzipped when it starts with the gzip magic; refuse a missing file."""
    if not path.is_file():
        raise UserInputError(f"{path}: no such barcode table; check the path")
    with path.open("rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as text:
        yield text


def _rows(path: Path, sep: str | None, columns: tuple[str, str, str]) -> Iterator[tuple[str, str, str]]:
    """Yield ``(id, species, sequence)`` per data row; one ``UserInputError`` line for a missing column."""
    with _open_text(path) as text:
        header = text.readline()
        if not header.strip():
            raise UserInputError(
                f"{path}: empty table; give a header row naming the id, species and sequence"
            )
        # Sniffed from the header alone: a tab there means TSV (no species name or id holds a tab).
        delimiter = sep or ("\t" if "\t" in header else ",")
        names = next(csv.reader([header], delimiter=delimiter))
        missing = [c for c in columns if c not in names]
        if missing:
            raise UserInputError(
                f"{path}: no column {', '.join(map(repr, missing))} (columns: {', '.join(names[:12])}); set "
                "id_column, species_column and sequence_column to the table's names"
            )
        where = [names.index(c) for c in columns]
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        try:
            for row in reader:
                if row:
                    cells = [row[i].strip() if i < len(row) else "" for i in where]
                    yield cells[0], cells[1], cells[2]
        except csv.Error as err:  # an unclosed quote, a field over csv's 128 KiB limit
            raise UserInputError(
                f"{path}: line {reader.line_num + 1}: not readable as a table ({err}); fix the row"
            ) from None


def read_barcode_table(
    path: str | Path,
    *,
    id_column: str,
    species_column: str,
    sequence_column: str,
    sep: str | None = None,
    synonyms: Mapping[str, str] | None = None,
    iupac: str = "skip",
    min_length: int = 2,
    max_length: int | None = None,
    on_bad_record: str = "skip",
    exclude: Collection[str] = (),
) -> FastaResult:
    """Read a barcode table into species-labelled records.

    Args:
        path: CSV or TSV with a header row, plain or gzipped.
        id_column, species_column, sequence_column: the header names of the id (``processid``), the species
            (``species``) and the sequence (``dna_barcode``).
        sep: the field separator; None = sniffed from the header (a tab: TSV, else comma).
        synonyms, iupac, min_length, on_bad_record, exclude: as :func:`~visgen.genetics.fasta.read_fasta`.
        max_length: keep the first ``max_length`` characters of each sequence before anything else
            (bioscan-dataset's ``max_nucleotides``: BIOSCAN-5M's reads past 660 bases are unreliable); None = all.

    Returns:
        The records in row order, the skip counts by reason and ``n_read`` = the data rows read.

    Raises:
        UserInputError: the file is missing, empty or lacks a column, an option is invalid, or a row is
            unusable under ``on_bad_record="error"`` / ``iupac="error"``.
    """
    path = Path(path)
    _check_policies(iupac, on_bad_record)
    result = FastaResult(path=path)
    result.records = list(
        iter_barcode_table(
            path, result, id_column=id_column, species_column=species_column, sequence_column=sequence_column,
            sep=sep, synonyms=synonyms, iupac=iupac, min_length=min_length, max_length=max_length,
            on_bad_record=on_bad_record, exclude=exclude,
        )
    )  # fmt: skip
    return result


def iter_barcode_table(
    path: str | Path,
    tally: FastaResult | None = None,
    *,
    id_column: str,
    species_column: str,
    sequence_column: str,
    sep: str | None = None,
    synonyms: Mapping[str, str] | None = None,
    iupac: str = "skip",
    min_length: int = 2,
    max_length: int | None = None,
    on_bad_record: str = "skip",
    exclude: Collection[str] = (),
) -> Iterator[SequenceRecord]:
    """``read_barcode_table`` as a generator: yields its records in row order, one row read at a time.

    ``n_read`` and ``skipped`` are counted into ``tally`` as rows are read (complete once exhausted;
    ``tally.records`` stays empty). The arguments are ``read_barcode_table``'s.
    """
    path = Path(path)
    _check_policies(iupac, on_bad_record)
    tally = FastaResult(path=path) if tally is None else tally
    table = synonym_table(synonyms or {})
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    excluded = frozenset(exclude)
    # A table repeats each species name on every one of its rows (BIOSCAN-5M: ~400 rows per name), so each
    # distinct spelling is normalised once: ~10 us per row saved, ~7 % of building anchors from the table here.
    spelled: dict[str, str] = {}
    for ident, name, raw in _rows(path, sep, (id_column, species_column, sequence_column)):
        tally.n_read += 1
        genetic = spelled.get(name)
        if genetic is None:
            genetic = normalise_species(name) or (normalise_species_name(name) if name else "")
            spelled[name] = genetic
        sequence = "".join(raw[:max_length].split()).lower().translate(_GAPS)
        if not ident:
            reason: str | None = NO_ID
        else:
            reason = EXCLUDED if ident in excluded else _problem(ident, genetic, sequence, seen)
        sequence, reason = _apply_policies(
            sequence, reason, iupac=iupac, min_length=min_length, where=f"{path}: row {ident!r}"
        )
        if ident:
            seen.add(ident)  # a second row with this id is a duplicate even if this one is skipped
        if reason is not None:
            if on_bad_record == "error" and reason not in (AMBIGUOUS, EXCLUDED):
                raise UserInputError(
                    f"{path}: row {ident or tally.n_read!r}: {reason}; {_FIXES_TABLE[reason]}"
                )
            skipped[reason] += 1
            tally.skipped = dict(skipped)
            continue
        yield SequenceRecord(ident, table.get(genetic, genetic), sequence, genetic)
    tally.skipped = dict(skipped)


def table_problems(table: Mapping[str, object], key: str = "genetics.table") -> list[str]:
    """What stops a barcode table from being read, each one line naming the key to fix (empty: fine).

    Reads the header row only, so a config check can ask before anything expensive runs.

    Args:
        table: ``path``, ``id_column``, ``species_column``, ``sequence_column`` (and optionally ``sep``).
        key: the config key the lines name.
    """
    columns = ("id_column", "species_column", "sequence_column")
    unset = [k for k in ("path", *columns) if not table.get(k)]
    if unset:
        return [
            f"{key}.{k}: not set; genetics.source=table needs the table's path and column names"
            for k in unset
        ]
    path = Path(str(table["path"]))
    if not path.is_file():
        return [f"{key}.path={path}: no such file; give the barcode table's path (CSV or TSV, plain or .gz)"]
    sep = table.get("sep")
    try:
        with _open_text(path) as text:
            header = text.readline()
    except OSError as err:
        return [f"{key}.path={path}: cannot read ({err}); check the file"]
    names = next(csv.reader([header], delimiter=str(sep) if sep else ("\t" if "\t" in header else ",")), [])
    return [
        f"{key}.{k}={table[k]}: {path.name} has no such column (columns: {', '.join(names[:12])}); use one of them"
        for k in columns
        if table[k] not in names
    ]
