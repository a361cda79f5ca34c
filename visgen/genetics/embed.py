"""``visgen sgt`` and ``visgen embed-dna``: embed every usable record of a FASTA file with a DNA encoder, write ``.npz``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from visgen.errors import UserInputError
from visgen.genetics.encoders import DnaEncoder
from visgen.genetics.fasta import FastaResult, SequenceRecord, iter_fasta, read_fasta
from visgen.genetics.stream import DEFAULT_CHUNK, id_file, stream_encode


def embed_fasta_file(
    fasta: str | Path,
    out: str | Path,
    *,
    encoder: DnaEncoder,
    iupac: str = "skip",
    chunk: int | None = None,
    memmap: str | Path | None = None,
) -> str:
    """Embed a FASTA file with ``encoder`` and write ``ids``, ``species``, ``embeddings`` to ``out``.

    Species are the header names normalised to ``Genus_species`` (no synonym table: this command
    reports what the file says). ``embeddings`` is float64 [N, D] (D = 256 for the dinucleotide SGT), rows in
    file order; a per-species encoder treats each record as a species of its own.

    Args:
        fasta: FASTA file (plain or gzipped), GenBank-style headers ``>ACCESSION Genus species``.
        out: output ``.npz`` path (written exactly there; parent folders are created).
        encoder: the DNA representation (its ``problems()`` are checked first).
        iupac: policy for records with ambiguity codes: ``skip``, ``drop`` or ``error``.
        chunk: read and encode this many records at a time (the same ``.npz``; memory for the strings and
            vectors of one chunk plus the output). None = all at once.
        memmap: stream into this float32 ``.npy`` [N, D] (ids and species in ``<stem>.ids.tsv`` beside it) and
            write to ``out`` only the per-species mean anchors: ``species``, ``anchors`` float64 [S, D] and
            ``counts`` [S]. Memory stays bounded whatever N (``visgen.genetics.stream``).

    Returns:
        One summary line: records read, embedded, skipped by reason, seconds, output path.

    Raises:
        UserInputError: bad encoder settings, the file is not usable FASTA, has no usable record, or ``out`` is a folder.
    """
    start = time.perf_counter()
    out = Path(out)
    if out.is_dir():
        raise UserInputError(f"{out}: is a folder; pass a file name such as {out / (encoder.name + '.npz')}")
    problems = encoder.problems()
    if problems:
        raise UserInputError(problems[0])
    if chunk is not None or memmap is not None:
        return _embed_streaming(
            Path(fasta), out, encoder, iupac, DEFAULT_CHUNK if chunk is None else chunk, memmap, start
        )
    read = read_fasta(fasta, iupac=iupac)
    if not read.records:
        raise UserInputError(f"{fasta}: no usable records ({read.summary()}); check the file")
    embeddings = encoder.encode([r.sequence for r in read.records])
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as fh:  # a file handle: np.savez would append ".npz" to other names
            np.savez(
                fh,
                ids=np.array([r.id for r in read.records], dtype=str),
                species=np.array([r.species for r in read.records], dtype=str),
                embeddings=embeddings,
            )
    except OSError as err:
        raise UserInputError(f"{out}: cannot write ({err.strerror}); choose a writable --out path") from None
    return _summary(read, len(read.records), time.perf_counter() - start, str(out))


def _summary(read: FastaResult, embedded: int, seconds: float, written: str) -> str:
    skipped = "".join(f", skipped {n} ({reason})" for reason, n in sorted(read.skipped.items()))
    return f"{read.path.name}: read {read.n_read} records, embedded {embedded}{skipped}; {seconds:.2f} s -> {written}"


def _embed_streaming(
    fasta: Path,
    out: Path,
    encoder: DnaEncoder,
    iupac: str,
    chunk: int,
    memmap: str | Path | None,
    start: float,
) -> str:
    """``embed_fasta_file`` a chunk at a time; with ``memmap``, per-sequence rows to disk and anchors to ``out``."""
    if chunk < 1:
        raise UserInputError(f"--chunk {chunk}: must be >= 1 (records encoded at a time), e.g. --chunk 4096")
    if encoder.per_species:
        raise UserInputError(
            f"--encoder {encoder.name}: compares whole species at once, so it cannot be streamed; drop --chunk/--memmap"
        )
    if memmap is not None and Path(memmap).is_dir():
        raise UserInputError(
            f"--memmap {memmap}: is a folder; pass a file name such as {Path(memmap) / 'rows.npy'}"
        )
    count = FastaResult(path=fasta)
    # A .npy's shape is fixed when it is made, so a memmap needs N first: one reading pass without encoding.
    n = None if memmap is None else sum(1 for _ in iter_fasta(fasta, count, iupac=iupac))
    if n == 0:
        raise UserInputError(f"{fasta}: no usable records ({count.summary()}); check the file")
    read = FastaResult(path=fasta)
    parts: list[np.ndarray] = []
    kept: list[SequenceRecord] = []

    def keep(part: list[SequenceRecord], vectors: np.ndarray) -> None:
        kept.extend(part)
        parts.append(vectors)

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if memmap is not None:
            Path(memmap).parent.mkdir(parents=True, exist_ok=True)
        streamed = stream_encode(
            iter_fasta(fasta, read, iupac=iupac), encoder, chunk=chunk, memmap=memmap, n_records=n,
            on_chunk=None if memmap is not None else keep,
        )  # fmt: skip
        if streamed.n == 0:
            raise UserInputError(f"{fasta}: no usable records ({read.summary()}); check the file")
        with open(out, "wb") as fh:  # a file handle: np.savez would append ".npz" to other names
            if memmap is None:
                ids, species = [r.id for r in kept], [r.species for r in kept]
                np.savez(fh, ids=np.array(ids, dtype=str), species=np.array(species, dtype=str),
                         embeddings=np.concatenate(parts))  # fmt: skip
            else:
                names, anchors = streamed.anchors.anchors("mean")
                counts = np.array([streamed.anchors.counts[s] for s in names], dtype=np.int64)
                np.savez(fh, species=np.array(names, dtype=str), anchors=anchors, counts=counts)
    except OSError as err:
        raise UserInputError(
            f"{err.filename or out}: cannot write ({err.strerror}); choose a writable path"
        ) from None
    written = str(out) if memmap is None else f"{memmap} (+ {id_file(memmap).name}), anchors {out}"
    return _summary(read, streamed.n, time.perf_counter() - start, written)
