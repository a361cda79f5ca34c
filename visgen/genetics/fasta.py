"""Read rDNA FASTA files into clean, species-labelled records (pure Python, torch-free).

Accepts plain or gzipped files (detected by content, not by name), wrapped or single-line sequences,
any letter case, CRLF/CR line ends, blank lines, ``;`` comment lines, non-breaking and repeated
spaces in headers. Whitespace and alignment gaps (``-``, ``.``) inside sequences are removed.

Species come from the header by a rule: ``"genbank"`` (``>ACCESSION Genus species ...``) or a
regular expression with named groups ``id`` and ``species``. Names are normalised to the image-class
form ``Genus_species`` (genus capitalised, epithet lower case) and then mapped through a synonym
table, because the genetic and the image taxonomies spell some species differently.

IUPAC ambiguity codes (r y k m s w b d h v n): ``iupac="skip"`` skips the record (the default; the
paper's 32-class join uses pure-ACGT sequences only), ``"drop"`` deletes the ambiguous bases,
``"error"`` refuses the file. Other unusable records are skipped and counted by reason, or refused
with one line naming file, record and fix when ``on_bad_record="error"``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from visgen.errors import UserInputError
from visgen.genetics.fasta_text import lazy_lines, read_text

IUPAC_CODES = frozenset("rykmswbdhvn")
_DNA = frozenset("acgt")
# The per-row alphabet checks as compiled fullmatches: 3 us per 658-bp barcode against 14 us for set(sequence) <= ...
# on this 2-core VM, which is ~20 s of a 5 M-row barcode table read twice per row.
_ONLY_DNA = re.compile("[acgt]*")
_ONLY_NUCLEOTIDES = re.compile(f"[acgt{''.join(sorted(IUPAC_CODES))}]*")
_GAPS = str.maketrans("", "", "-.")
# Every Unicode whitespace (NBSP, thin space, ...) counts as a separator in headers.
_SPACE_RUN = re.compile(r"\s+")
_NAME_TOKEN = re.compile(r"^[A-Za-z][A-Za-z-]*$")

# Skip reasons: the keys of FastaResult.skipped, fixed strings so summaries can be compared.
EMPTY = "empty sequence"
DUPLICATE = "duplicate accession"
NO_SPECIES = "no species in header"
NOT_DNA = "not DNA"
AMBIGUOUS = "IUPAC ambiguity codes"
TOO_SHORT = "too short"
EXCLUDED = "excluded by config"

_FIXES = {
    EMPTY: "remove the record or add its sequence",
    DUPLICATE: "keep one record per accession",
    NO_SPECIES: "write the header as '>ACCESSION Genus species' or set header_rule to a matching regex",
    NOT_DNA: "only nucleotide sequences (a c g t and IUPAC codes) can be embedded",
    AMBIGUOUS: "use iupac='skip' or iupac='drop'",
    TOO_SHORT: "SGT needs at least min_length bases",
}


@dataclass(frozen=True)
class SequenceRecord:
    """One usable FASTA record.

    Attributes:
        id: the accession (first header token, or the regex ``id`` group).
        species: image-class form ``Genus_species`` after synonyms.
        sequence: lower-case bases a, c, g, t (ambiguity codes are skipped or dropped before this).
        genetic_species: the normalised name as the header spells it, before synonyms.
    """

    id: str
    species: str
    sequence: str
    genetic_species: str


@dataclass
class FastaResult:
    """Records read from one file and what was skipped.

    Attributes:
        path: the file read.
        records: usable records in file order.
        skipped: number of skipped records per reason.
        n_read: number of records (headers) in the file.
    """

    path: Path
    records: list[SequenceRecord] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    n_read: int = 0

    def summary(self, kept: int | None = None) -> str:
        """One line: ``<file>: read N records, kept K, skipped S (reason), ...``.

        Args:
            kept: K when the records were streamed rather than stored in ``records``; None = ``len(records)``.
        """
        kept = len(self.records) if kept is None else kept
        parts = [f"{self.path.name}: read {self.n_read} records, kept {kept}"]
        parts += [f"skipped {n} ({reason})" for reason, n in sorted(self.skipped.items())]
        return ", ".join(parts)


def normalise_species(name: str) -> str:
    """``"globigerinoides  RUBER-albus"`` -> ``"Globigerinoides_ruber-albus"``; ``""`` if not a binomial.

    Underscores, NBSP and repeated spaces separate words; only genus and epithet are kept.
    """
    words = _SPACE_RUN.split(name.replace("_", " ").strip())
    if len(words) < 2 or not all(_NAME_TOKEN.match(w) for w in words[:2]):
        return ""
    return f"{words[0].capitalize()}_{words[1].lower()}"


def _raw_records(path: Path, lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Yield ``(header, sequence)`` with whitespace removed from sequences; refuse text before a header."""
    header: str | None = None
    chunks: list[str] = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        if stripped.startswith(">"):
            if header is not None:
                yield header, "".join(chunks)
            header, chunks = stripped[1:], []
        elif header is None:
            raise UserInputError(
                f"{path}: line {number} comes before any '>' header, so this is not FASTA; "
                "each record must start with '>ACCESSION Genus species'"
            )
        else:
            chunks.append("".join(stripped.split()))
    if header is not None:
        yield header, "".join(chunks)


def _parse_header(header: str, rule: re.Pattern[str] | None) -> tuple[str, str]:
    """Return ``(id, normalised species or "")`` for one header line (without ``>``)."""
    clean = _SPACE_RUN.sub(" ", header).strip()
    if rule is None:
        accession, _, rest = clean.partition(" ")
        return accession, normalise_species(rest)
    match = rule.search(clean)
    if match is None:
        return clean.partition(" ")[0], ""
    return match.group("id").strip(), normalise_species(match.group("species") or "")


def _compile_rule(header_rule: str) -> re.Pattern[str] | None:
    if header_rule == "genbank":
        return None
    try:
        rule = re.compile(header_rule)
    except re.error as err:
        raise UserInputError(f"header_rule {header_rule!r}: invalid regex ({err}); fix the pattern") from None
    if not {"id", "species"} <= set(rule.groupindex):
        raise UserInputError(
            f"header_rule {header_rule!r}: needs named groups (?P<id>...) and (?P<species>...); "
            "or use header_rule='genbank'"
        )
    return rule


def read_fasta(
    path: str | Path,
    *,
    header_rule: str = "genbank",
    synonyms: Mapping[str, str] | None = None,
    iupac: str = "skip",
    min_length: int = 2,
    on_bad_record: str = "skip",
    exclude: Collection[str] = (),
) -> FastaResult:
    """Read a FASTA file into species-labelled records.

    Args:
        path: FASTA file, plain or gzipped.
        header_rule: ``"genbank"`` or a regex with named groups ``id`` and ``species``.
        synonyms: genetic name -> image-class name; both sides in any spelling that
            ``normalise_species`` accepts (``"Trilobatus sacculifer"`` or ``"Trilobatus_sacculifer"``).
        iupac: ``"skip"`` | ``"drop"`` | ``"error"`` for records with ambiguity codes.
        min_length: fewest bases a usable record has (2 = one dinucleotide).
        on_bad_record: ``"skip"`` (count by reason) or ``"error"`` (refuse with one line).
        exclude: accessions to leave out on purpose (counted as ``excluded by config``, never an error).

    Returns:
        The records and the skip counts.

    Raises:
        UserInputError: the file is missing or not FASTA, an option is invalid, or a record is
            unusable under ``on_bad_record="error"`` / ``iupac="error"``.
    """
    path = Path(path)
    result = FastaResult(path=path)
    options = dict(header_rule=header_rule, synonyms=synonyms, iupac=iupac, min_length=min_length,
                   on_bad_record=on_bad_record, exclude=exclude)  # fmt: skip
    _check_policies(iupac, on_bad_record)
    lines = read_text(path).splitlines()
    result.records = list(_records(path, lines, result, **options))
    return result


def iter_fasta(
    path: str | Path,
    tally: FastaResult | None = None,
    *,
    header_rule: str = "genbank",
    synonyms: Mapping[str, str] | None = None,
    iupac: str = "skip",
    min_length: int = 2,
    on_bad_record: str = "skip",
    exclude: Collection[str] = (),
) -> Iterator[SequenceRecord]:
    """``read_fasta`` as a generator: the file is read line by line, never held whole.

    Yields the records ``read_fasta`` returns, in the same order, and counts ``n_read`` and ``skipped`` into
    ``tally`` as it goes (complete once the generator is exhausted; ``tally.records`` stays empty). Lines are
    decoded one at a time (UTF-8, else latin-1), so a file mixing both encodings may spell a header differently
    from ``read_fasta``, which decides once for the whole file.

    Args:
        path: FASTA file, plain or gzipped.
        tally: where the counts go; None = not kept.
        header_rule, synonyms, iupac, min_length, on_bad_record, exclude: as ``read_fasta``.

    Raises:
        UserInputError: as ``read_fasta`` (the file checks before the first record, a bad record when reached).
    """
    path = Path(path)
    _check_policies(iupac, on_bad_record)
    tally = FastaResult(path=path) if tally is None else tally
    options = dict(header_rule=header_rule, synonyms=synonyms, iupac=iupac, min_length=min_length,
                   on_bad_record=on_bad_record, exclude=exclude)  # fmt: skip
    yield from _records(path, lazy_lines(path), tally, **options)


def _check_policies(iupac: str, on_bad_record: str) -> None:
    if iupac not in ("skip", "drop", "error"):
        raise UserInputError(f"iupac={iupac!r} is not a policy; use 'skip', 'drop' or 'error'")
    if on_bad_record not in ("skip", "error"):
        raise UserInputError(f"on_bad_record={on_bad_record!r} is not a policy; use 'skip' or 'error'")


def _records(
    path: Path,
    lines: Iterable[str],
    tally: FastaResult,
    *,
    header_rule: str,
    synonyms: Mapping[str, str] | None,
    iupac: str,
    min_length: int,
    on_bad_record: str,
    exclude: Collection[str],
) -> Iterator[SequenceRecord]:
    """The usable records of ``lines``; ``tally.n_read`` and ``tally.skipped`` are kept current."""
    rule = _compile_rule(header_rule)
    table = synonym_table(synonyms or {})
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    excluded = frozenset(exclude)
    for header, raw in _raw_records(path, lines):
        tally.n_read += 1
        accession, genetic = _parse_header(header, rule)
        sequence = raw.lower().translate(_GAPS)
        reason = EXCLUDED if accession in excluded else _problem(accession, genetic, sequence, seen)
        sequence, reason = _apply_policies(
            sequence, reason, iupac=iupac, min_length=min_length, where=f"{path}: record {accession!r}"
        )
        if accession:
            # A second record with this accession is a duplicate even if this one is skipped.
            seen.add(accession)
        if reason is not None:
            if on_bad_record == "error" and reason not in (AMBIGUOUS, EXCLUDED):
                raise UserInputError(f"{path}: record {accession or header!r}: {reason}; {_FIXES[reason]}")
            skipped[reason] += 1
            tally.skipped = dict(skipped)
            continue
        yield SequenceRecord(accession, table.get(genetic, genetic), sequence, genetic)
    tally.skipped = dict(skipped)


def _apply_policies(
    sequence: str, reason: str | None, *, iupac: str, min_length: int, where: str
) -> tuple[str, str | None]:
    """The IUPAC policy and the length floor, for a record not skipped so far (FASTA and barcode tables alike).

    Returns ``(sequence, reason)``: the codes dropped under ``iupac="drop"``; the reason ``AMBIGUOUS`` under
    ``"skip"`` or ``TOO_SHORT``. Raises one ``UserInputError`` naming ``where`` under ``iupac="error"``.
    """
    if reason is None and not _ONLY_DNA.fullmatch(sequence):
        if iupac == "error":
            raise UserInputError(f"{where} has {AMBIGUOUS}; {_FIXES[AMBIGUOUS]} (or fix the sequence)")
        if iupac == "skip":
            reason = AMBIGUOUS
        else:
            sequence = "".join(b for b in sequence if b in _DNA)
    if reason is None and len(sequence) < min_length:
        reason = TOO_SHORT
    return sequence, reason


def _problem(accession: str, genetic: str, sequence: str, seen: set[str]) -> str | None:
    """The skip reason of a record before the IUPAC policy, or None if it is usable so far."""
    if not sequence:
        return EMPTY
    if accession in seen:
        return DUPLICATE
    if not genetic:
        return NO_SPECIES
    if not _ONLY_NUCLEOTIDES.fullmatch(sequence):
        return NOT_DNA
    return None


def synonym_table(synonyms: Mapping[str, str]) -> dict[str, str]:
    """Normalise both sides of the synonym table; refuse entries that are not binomials.

    The one table for FASTA headers and image folder names alike (``visgen.genetics.species.canonical_species``).
    """
    table = {}
    for genetic, image in synonyms.items():
        key, value = normalise_species(str(genetic)), normalise_species(str(image))
        if not key or not value:
            raise UserInputError(
                f"synonyms: entry {genetic!r}: {image!r} is not 'Genus species' on both sides; fix the table"
            )
        table[key] = value
    return table
