"""The genetics "data module": FASTA -> a DNA encoder's embeddings -> species anchors, cached.

``load_genetic_anchors`` is what the pipeline calls with the reader keys of ``conf/genetics/sgt.yaml`` and the
encoder that ``visgen/run/anchors.py`` instantiates from ``conf/genetics/encoder/<name>.yaml``. The result is
cached on disk under a hash of the FASTA bytes, the reader options, the encoder's name and its
``cache_options()``, so changing any of them recomputes it and nothing stale is ever reused. Pure numpy, torch-free.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visgen.genetics.anchors import species_anchors
from visgen.genetics.encoders import DnaEncoder
from visgen.genetics.fasta import FastaResult, SequenceRecord, iter_fasta
from visgen.genetics.stream import stream_encode
from visgen.genetics.table import iter_barcode_table

log = logging.getLogger(__name__)

#: ``genetics.table`` keys a table source cannot do without.
TABLE_KEYS = ("path", "id_column", "species_column", "sequence_column")
_CACHE_VERSION = 2  # bump when the computation changes, so old cache files are not reused


@dataclass
class GeneticAnchors:
    """Sequences, their embeddings and the per-species anchors.

    Attributes:
        species: S image-class species names (sorted), the rows of ``anchors``.
        anchors: [S, D] float64 anchors (D = 256 for the dinucleotide SGT).
        embeddings: [N, D] float64 per-sequence embeddings; for a per-species encoder, each sequence's species row.
        sequence_species: N image-class species, one per sequence.
        ids: N accessions.
        sequences: N lower-case nucleotide sequences as embedded.
        genetic_species: N species names as the FASTA spells them (normalised), before synonyms:
            with ``sequence_species`` this is the genetic-name -> image-class mapping.
        summary: the FASTA reader's one-line summary (records read, kept, skipped by reason).
    """

    species: list[str]
    anchors: np.ndarray
    embeddings: np.ndarray
    sequence_species: list[str]
    ids: list[str]
    sequences: list[str]
    genetic_species: list[str]
    summary: str

    def name_map(self) -> dict[str, str]:
        """Genetic species name -> image-class name, for every species in the file."""
        return dict(zip(self.genetic_species, self.sequence_species, strict=True))

    def for_classes(self, class_names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """Anchors in the order of an image data set's classes.

        Args:
            class_names: C image-class names (``Genus_species``).

        Returns:
            ``(anchors, missing)``: anchors [C, D] with a row of NaN for each class without DNA (so it
            cannot be used by accident), and the names of those classes (also logged).
        """
        index = {name: k for k, name in enumerate(self.species)}
        out = np.full((len(class_names), self.anchors.shape[1]), np.nan)
        missing = []
        for c, name in enumerate(class_names):
            if name in index:
                out[c] = self.anchors[index[name]]
            else:
                missing.append(name)
        if missing:
            log.warning("%d image classes have no DNA: %s", len(missing), ", ".join(missing))
        return out, missing


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


def _cache_key(fasta: Path, options: Mapping[str, object]) -> str:
    with open(fasta, "rb") as fh:  # read in blocks: a barcode table can be gigabytes (same digest as whole)
        digest = hashlib.file_digest(fh, "sha256")
    digest.update(json.dumps({**options, "version": _CACHE_VERSION}, sort_keys=True).encode())
    return digest.hexdigest()[:20]


def load_genetic_anchors(
    fasta_path: str | Path,
    *,
    encoder: DnaEncoder,
    header_rule: str = "genbank",
    statistic: str = "mean",
    synonyms: Mapping[str, str] | None = None,
    iupac: str = "skip",
    min_length: int = 2,
    exclude: Collection[str] = (),
    on_bad_record: str = "skip",
    cache_dir: str | Path | None = None,
    source: str = "fasta",
    table: Mapping[str, Any] | None = None,
) -> GeneticAnchors:
    """Read a FASTA file (or a barcode table), embed every usable record with ``encoder`` and build species anchors.

    Args:
        fasta_path: FASTA file (plain or gzipped); see ``visgen.genetics.fasta.read_fasta``.
        encoder: the DNA representation; a per-sequence one is summarised per species by ``statistic``,
            a per-species one (``encoder.per_species``) gives the anchors directly.
        header_rule, synonyms, iupac, min_length, exclude, on_bad_record: passed to ``read_fasta``.
        statistic: anchor statistic, ``"mean"`` (paper), ``"median"`` or ``"medoid"`` (per-sequence encoders).
        cache_dir: folder for the cache file; ``None`` disables caching.
        source, table: ``"fasta"`` reads ``fasta_path``; ``"table"`` reads the barcode table ``table`` names
            (``open_records``). With ``statistic="mean"`` a per-sequence encoder runs a chunk at a time into an
            exact running mean (``visgen.genetics.stream``).

    Returns:
        The sequences, embeddings [N, D] and anchors [S, D].

    Raises:
        UserInputError: the encoder's settings are wrong, the FASTA file is unusable (see ``read_fasta``) or
            has no usable record, or the encoder refuses the sequences.
    """
    from visgen.errors import UserInputError

    problems = encoder.problems()
    if problems:
        raise UserInputError(problems[0])
    fasta, records = open_records(
        fasta_path, source, table, header_rule=header_rule, synonyms=synonyms, iupac=iupac,
        min_length=min_length, on_bad_record=on_bad_record, exclude=exclude,
    )  # fmt: skip
    options = {
        "header_rule": header_rule, "statistic": statistic, "iupac": iupac,
        "synonyms": dict(sorted((synonyms or {}).items())), "min_length": min_length,
        "exclude": sorted(exclude), "on_bad_record": on_bad_record,
        "encoder": encoder.name, "encoder_options": encoder.cache_options(),
    }  # fmt: skip
    if source != "fasta":  # only then, so the keys of FASTA caches made before tables existed still match
        options.update(source=source, table=dict(sorted((table or {}).items())))
    cache_file = None
    if cache_dir is not None:
        if not fasta.is_file():
            key = "genetics.fasta" if source == "fasta" else "genetics.table.path"
            raise UserInputError(f"{fasta}: no such file; check {key}")
        cache_file = Path(cache_dir) / f"genetic-anchors-{_cache_key(fasta, options)}.npz"
        if cache_file.is_file():
            try:
                result = _load(cache_file)
                log.info("genetic anchors from cache %s (%s)", cache_file, result.summary)
                return result
            except (
                OSError,
                ValueError,
                KeyError,
                EOFError,
                zipfile.BadZipFile,
            ) as err:  # a truncated file from a killed run
                log.warning("ignoring unreadable cache %s (%s); recomputing", cache_file, err)

    read = FastaResult(path=fasta)
    streamed = None
    if statistic == "mean" and not encoder.per_species:
        kept: list[np.ndarray] = []

        def keep(part: list[SequenceRecord], vectors: np.ndarray) -> None:
            read.records.extend(part)
            kept.append(vectors)

        streamed = stream_encode(records(read), encoder, on_chunk=keep)
    else:
        read.records = list(records(read))
    if not read.records:
        raise UserInputError(
            f"{fasta}: no usable records ({read.summary()}); check the file and genetics options"
        )
    log.info("%s", read.summary())
    sequence_species = [r.species for r in read.records]
    if encoder.per_species:
        by_species: dict[str, list[str]] = {}
        for r in read.records:
            by_species.setdefault(r.species, []).append(r.sequence)
        names, vectors = encoder.encode_species(dict(sorted(by_species.items())))
        order = np.argsort(names)
        species, anchors = [names[i] for i in order], vectors[order]
        row = {name: k for k, name in enumerate(species)}
        embeddings = anchors[[row[s] for s in sequence_species]]
        log.info(
            "%s encoder: one vector per species (genetics.statistic=%s not used)", encoder.name, statistic
        )
    elif streamed is not None:
        embeddings = np.concatenate(kept)
        species, anchors = streamed.anchors.anchors("mean")
    else:
        embeddings = encoder.encode([r.sequence for r in read.records])
        species, anchors = species_anchors(embeddings, sequence_species, statistic)
    result = GeneticAnchors(
        species=species,
        anchors=anchors,
        embeddings=embeddings,
        sequence_species=sequence_species,
        ids=[r.id for r in read.records],
        sequences=[r.sequence for r in read.records],
        genetic_species=[r.genetic_species for r in read.records],
        summary=read.summary(),
    )
    if cache_file is not None:
        _save(cache_file, result)
    return result


def _save(path: Path, result: GeneticAnchors) -> None:
    """Write atomically (temp file + rename) so a killed run never leaves a half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(
            fh,
            species=np.array(result.species, dtype=str), anchors=result.anchors,
            embeddings=result.embeddings, sequence_species=np.array(result.sequence_species, dtype=str),
            ids=np.array(result.ids, dtype=str), sequences=np.array(result.sequences, dtype=str),
            genetic_species=np.array(result.genetic_species, dtype=str), summary=np.array(result.summary),
        )  # fmt: skip
    os.replace(tmp, path)


def _load(path: Path) -> GeneticAnchors:
    with np.load(path, allow_pickle=False) as z:
        return GeneticAnchors(
            species=z["species"].tolist(), anchors=z["anchors"], embeddings=z["embeddings"],
            sequence_species=z["sequence_species"].tolist(), ids=z["ids"].tolist(),
            sequences=z["sequences"].tolist(), genetic_species=z["genetic_species"].tolist(),
            summary=str(z["summary"]),
        )  # fmt: skip
