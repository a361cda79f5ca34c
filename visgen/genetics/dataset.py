"""The genetics "data module": FASTA or barcode table -> a DNA encoder -> species anchors, cached.

``load_genetic_anchors`` is what the pipeline calls with the reader keys of ``conf/genetics/sgt.yaml`` and the
encoder that ``visgen/run/anchors.py`` instantiates from ``conf/genetics/encoder/<name>.yaml``. A per-sequence
encoder runs a chunk at a time into a per-species reduction (``visgen.genetics.stream``), so no more than one
chunk of vectors is ever in memory, whatever the number of barcodes. The anchors are cached on disk
(``visgen.genetics.anchor_cache``) under a hash of the input bytes, the reader options, the reduction, the
encoder's name and its ``cache_options()``, so changing any of them recomputes them and nothing stale is reused.
Whoever needs the sequences themselves (the contrastive DNA tower) reads them with ``species_sequences``: the
same reader and options, no encoder. Pure numpy, torch-free.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from visgen.genetics import anchor_cache
from visgen.genetics.anchor_cache import GeneticAnchors
from visgen.genetics.encoders import DnaEncoder
from visgen.genetics.fasta import FastaResult, SequenceRecord, iter_fasta
from visgen.genetics.stream import DEFAULT_CHUNK, DEFAULT_MEDOID_BOUND, reduce_problems, stream_encode
from visgen.genetics.table import iter_barcode_table

log = logging.getLogger(__name__)

#: ``genetics.table`` keys a table source cannot do without.
TABLE_KEYS = ("path", "id_column", "species_column", "sequence_column")
#: The keys of ``conf/genetics`` that the record reader takes (``open_records``'s options).
READER_KEYS = ("header_rule", "synonyms", "iupac", "min_length", "exclude", "on_bad_record")


def fasta_species(
    fasta_path: str | Path,
    *,
    header_rule: str = "genbank",
    synonyms: Mapping[str, str] | None = None,
    iupac: str = "skip",
    min_length: int = 2,
    exclude: Collection[str] = (),
    on_bad_record: str = "skip",
    source: str = "fasta",
    table: Mapping[str, Any] | None = None,
    **_: object,
) -> list[str]:
    """The species (image-class names, after synonyms) that have at least one usable record.

    The same reader and options as ``load_genetic_anchors``, without the embedding: the image side joins
    its folders with these before anything is built. Extra keys of ``conf/genetics`` are ignored.

    Returns:
        Sorted species names.
    """
    path, records = open_records(
        fasta_path, source, table, header_rule=header_rule, synonyms=synonyms, iupac=iupac,
        min_length=min_length, on_bad_record=on_bad_record, exclude=exclude,
    )  # fmt: skip
    return sorted({r.species for r in records(FastaResult(path=path))})


def open_records(
    fasta_path: str | Path, source: str, table: Mapping[str, Any] | None, **options: Any
) -> tuple[Path, Callable[[FastaResult], Iterator[SequenceRecord]]]:
    """The file that ``genetics.source`` names and a lazy reader of its usable records.

    Args:
        fasta_path: the FASTA file (``source="fasta"``).
        source: ``"fasta"`` or ``"table"`` (a barcode table: ``table`` holds ``path``, ``id_column``,
            ``species_column``, ``sequence_column`` and optionally ``sep`` and ``max_length``).
        table: the ``genetics.table`` keys.
        **options: the reader options (``header_rule`` is a FASTA option, not used for a table).

    Returns:
        ``(path, read)``: ``read(tally)`` yields the records and counts what it skips into ``tally``.

    Raises:
        UserInputError: an unknown source, or a table source without its path or a column name.
    """
    from visgen.errors import UserInputError

    if source == "fasta":
        return Path(fasta_path), lambda tally: iter_fasta(fasta_path, tally, **options)
    if source != "table":
        raise UserInputError(f"genetics.source={source}: unknown; use fasta or table")
    keys = dict(table or {})
    missing = [k for k in TABLE_KEYS if not keys.get(k)]
    if missing:
        raise UserInputError(
            f"genetics.table: no {', '.join(missing)}; genetics.source=table needs the table's path and the names "
            "of its id, species and sequence columns"
        )
    options.pop("header_rule", None)
    path = Path(keys.pop("path"))
    return path, lambda tally: iter_barcode_table(path, tally, **keys, **options)


def species_sequences(
    fasta_path: str | Path,
    species: Collection[str],
    *,
    source: str = "fasta",
    table: Mapping[str, Any] | None = None,
    **options: Any,
) -> tuple[list[SequenceRecord], int]:
    """The usable records of ``species``, read as ``load_genetic_anchors`` reads them, without an encoder.

    One pass over the file that keeps only the records of ``species`` (the contrastive DNA tower's sequences of the
    image classes), so memory holds those sequences, not the whole file's.

    Args:
        fasta_path, source, table: as ``load_genetic_anchors``.
        species: image-class names (after synonyms) whose records to keep.
        **options: the reader keys of ``conf/genetics`` (``READER_KEYS``); its other keys are ignored.

    Returns:
        ``(records, usable)``: the kept records in file order, and the usable records of all species.

    Raises:
        UserInputError: the file is unusable or has no usable record.
    """
    from visgen.errors import UserInputError

    reader = {k: v for k, v in options.items() if k in READER_KEYS}
    path, records = open_records(fasta_path, source, table, **reader)
    wanted, read, kept, usable = frozenset(species), FastaResult(path=path), [], 0
    for record in records(read):
        usable += 1
        if record.species in wanted:
            kept.append(record)
    if not usable:
        raise UserInputError(
            f"{path}: no usable records ({read.summary(0)}); check the file and genetics options"
        )
    return kept, usable


def load_genetic_anchors(
    fasta_path: str | Path,
    *,
    encoder: DnaEncoder,
    header_rule: str = "genbank",
    reduce: str = "mean",
    medoid_sample: int = DEFAULT_MEDOID_BOUND,
    synonyms: Mapping[str, str] | None = None,
    iupac: str = "skip",
    min_length: int = 2,
    exclude: Collection[str] = (),
    on_bad_record: str = "skip",
    cache_dir: str | Path | None = None,
    source: str = "fasta",
    table: Mapping[str, Any] | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> GeneticAnchors:
    """Read a FASTA file (or a barcode table), embed every usable record with ``encoder`` and build species anchors.

    Args:
        fasta_path: FASTA file (plain or gzipped); see ``visgen.genetics.fasta.read_fasta``.
        encoder: the DNA representation; a per-sequence one is reduced per species by ``reduce``, a chunk of
            ``chunk`` records at a time; a per-species one (``encoder.per_species``) gives the anchors directly
            (it compares whole species, so it holds every usable sequence).
        header_rule, synonyms, iupac, min_length, exclude, on_bad_record: passed to ``read_fasta``.
        reduce: the anchor of a species, ``"mean"`` (the paper; exact), or ``"medoid"`` / ``"median"`` of a
            seeded reservoir sample of at most ``medoid_sample`` sequences per species (exact when the species
            has no more).
        medoid_sample: the reservoir's size per species (memory: S x medoid_sample x D float32); used by medoid
            and median only, and only then part of the cache key.
        cache_dir: folder for the cache file; ``None`` disables caching.
        source, table: ``"fasta"`` reads ``fasta_path``; ``"table"`` reads the barcode table ``table`` names
            (``open_records``).
        chunk: records encoded at a time (memory: chunk x D float64); not part of the cache key, since the
            anchors do not depend on it beyond float64 rounding of the sums.

    Returns:
        The anchors [S, D], the species' sequence counts and the reader's counts.

    Raises:
        UserInputError: the encoder's settings or the reduction are wrong, the FASTA file is unusable (see
            ``read_fasta``) or has no usable record, or the encoder refuses the sequences.
    """
    from visgen.errors import UserInputError

    problems = encoder.problems() + reduce_problems(reduce, medoid_sample)
    if problems:
        raise UserInputError(problems[0])
    fasta, records = open_records(
        fasta_path, source, table, header_rule=header_rule, synonyms=synonyms, iupac=iupac,
        min_length=min_length, on_bad_record=on_bad_record, exclude=exclude,
    )  # fmt: skip
    options = {
        "header_rule": header_rule, "reduce": reduce, "iupac": iupac,
        "synonyms": dict(sorted((synonyms or {}).items())), "min_length": min_length,
        "exclude": sorted(exclude), "on_bad_record": on_bad_record,
        "encoder": encoder.name, "encoder_options": encoder.cache_options(),
    }  # fmt: skip
    if reduce != "mean":  # the mean uses no sample: changing its size must not miss the cache
        options["medoid_sample"] = medoid_sample
    if source != "fasta":
        options.update(source=source, table=dict(sorted((table or {}).items())))
    cache_file = None
    if cache_dir is not None:
        if not fasta.is_file():
            key = "genetics.fasta" if source == "fasta" else "genetics.table.path"
            raise UserInputError(f"{fasta}: no such file; check {key}")
        cache_file = Path(cache_dir) / f"genetic-anchors-{anchor_cache.cache_key(fasta, options)}.npz"
        if cache_file.is_file():
            try:
                result = anchor_cache.load(cache_file)
                log.info("genetic anchors from cache %s (%s)", cache_file, result.summary)
                return result
            except (
                OSError,
                ValueError,
                KeyError,
                EOFError,
                zipfile.BadZipFile,
            ) as err:  # a killed run's file
                log.warning("ignoring unreadable cache %s (%s); recomputing", cache_file, err)

    read = FastaResult(path=fasta)
    if encoder.per_species:
        species, anchors, counts, names = _per_species(records(read), encoder)
        log.info("%s encoder: one vector per species (genetics.reduce=%s not used)", encoder.name, reduce)
    else:
        species, anchors, counts, names = _streamed(records(read), encoder, reduce, medoid_sample, chunk)
    if not species:
        raise UserInputError(
            f"{fasta}: no usable records ({read.summary(0)}); check the file and genetics options"
        )
    summary = read.summary(int(sum(counts)))
    log.info("%s", summary)
    result = GeneticAnchors(
        species=species, anchors=anchors, counts=np.array(counts, dtype=np.int64), genetic_names=names,
        n_read=read.n_read, skipped=dict(read.skipped), summary=summary,
    )  # fmt: skip
    if cache_file is not None:
        anchor_cache.save(cache_file, result)
    return result


_Reduced = tuple[list[str], np.ndarray, list[int], dict[str, str]]


def _streamed(
    records: Iterator[SequenceRecord], encoder: DnaEncoder, reduce: str, medoid_sample: int, chunk: int
) -> _Reduced:
    """``(species, anchors [S, D], counts, genetic name -> species)`` of a per-sequence encoder, a chunk at a time."""
    names: dict[str, str] = {}

    def note(part: list[SequenceRecord], _vectors: np.ndarray) -> None:
        names.update((r.genetic_species, r.species) for r in part)

    streamed = stream_encode(
        records, encoder, chunk=chunk, medoid_bound=None if reduce == "mean" else medoid_sample, on_chunk=note
    )
    if streamed.n == 0:
        return [], np.zeros((0, 0)), [], names
    species, anchors = streamed.anchors.anchors(reduce)
    return species, anchors, [streamed.anchors.counts[s] for s in species], names


def _per_species(records: Iterator[SequenceRecord], encoder: DnaEncoder) -> _Reduced:
    """The same of a per-species encoder, which needs every sequence of a species at once."""
    by_species: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for r in records:
        by_species.setdefault(r.species, []).append(r.sequence)
        names[r.genetic_species] = r.species
    if not by_species:
        return [], np.zeros((0, 0)), [], names
    found, vectors = encoder.encode_species(dict(sorted(by_species.items())))
    order = np.argsort(found)
    species = [found[i] for i in order]
    return species, vectors[order], [len(by_species[s]) for s in species], names
