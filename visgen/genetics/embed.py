"""``visgen sgt``: embed every usable record of a FASTA file and write an ``.npz``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from visgen.errors import UserInputError
from visgen.genetics.encoders.encoding import ALPHABETS, encode
from visgen.genetics.encoders.sgt import sgt_embed
from visgen.genetics.fasta import read_fasta


def embed_fasta_file(
    fasta: str | Path,
    out: str | Path,
    *,
    stride: int = 1,
    kappa: float = 1,
    length_sensitive: bool = False,
    alphabet: str = "dinucleotide",
    iupac: str = "skip",
) -> str:
    """Embed a FASTA file with SGT and write ``ids``, ``species``, ``embeddings`` to ``out``.

    Species are the header names normalised to ``Genus_species`` (no synonym table: this command
    reports what the file says). ``embeddings`` is float64 [N, 256] for the dinucleotide alphabet
    ([N, 16] for plain bases), rows in file order.

    Args:
        fasta: FASTA file (plain or gzipped), GenBank-style headers ``>ACCESSION Genus species``.
        out: output ``.npz`` path (written exactly there; parent folders are created).
        stride, kappa, length_sensitive, alphabet: encoding and SGT options (paper: 1, 1, False, dinucleotide).
        iupac: policy for records with ambiguity codes: ``skip``, ``drop`` or ``error``.

    Returns:
        One summary line: records read, embedded, skipped by reason, seconds, output path.

    Raises:
        UserInputError: the file is not usable FASTA, has no usable record, or ``out`` is a folder.
    """
    start = time.perf_counter()
    out = Path(out)
    if out.is_dir():
        raise UserInputError(f"{out}: is a folder; pass a file name such as {out / 'sgt.npz'}")
    if kappa <= 0:
        raise UserInputError(f"--kappa {kappa}: must be > 0 (the paper uses 1)")
    read = read_fasta(fasta, iupac=iupac)
    if not read.records:
        raise UserInputError(f"{fasta}: no usable records ({read.summary()}); check the file")
    encoded = [encode(r.sequence, alphabet=alphabet, stride=stride) for r in read.records]
    embeddings = sgt_embed(
        encoded, alphabet=ALPHABETS[alphabet], kappa=kappa, length_sensitive=length_sensitive
    )
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
