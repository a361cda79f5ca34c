"""``visgen sgt`` and ``visgen embed-dna``: embed every usable record of a FASTA file with a DNA encoder, write ``.npz``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from visgen.errors import UserInputError
from visgen.genetics.encoders import DnaEncoder
from visgen.genetics.fasta import read_fasta


def embed_fasta_file(fasta: str | Path, out: str | Path, *, encoder: DnaEncoder, iupac: str = "skip") -> str:
    """Embed a FASTA file with ``encoder`` and write ``ids``, ``species``, ``embeddings`` to ``out``.

    Species are the header names normalised to ``Genus_species`` (no synonym table: this command
    reports what the file says). ``embeddings`` is float64 [N, D] (D = 256 for the dinucleotide SGT), rows in
    file order; a per-species encoder treats each record as a species of its own.

    Args:
        fasta: FASTA file (plain or gzipped), GenBank-style headers ``>ACCESSION Genus species``.
        out: output ``.npz`` path (written exactly there; parent folders are created).
        encoder: the DNA representation (its ``problems()`` are checked first).
        iupac: policy for records with ambiguity codes: ``skip``, ``drop`` or ``error``.

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
    skipped = "".join(f", skipped {n} ({reason})" for reason, n in sorted(read.skipped.items()))
    seconds = time.perf_counter() - start
    return (
        f"{Path(fasta).name}: read {read.n_read} records, embedded {len(read.records)}{skipped}; "
        f"{seconds:.2f} s -> {out}"
    )
