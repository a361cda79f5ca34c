"""Alignment-free genetic distances between species from the real 18S rDNA (k-mer profiles, Nei's D_A).

1. Every real 18S sequence is joined to its image species through ``image_dna_join.csv``
   (accession -> image-class name), which already resolves the synonyms (Trilobatus sacculifer =
   Globigerinoides_sacculifer, ...). The FASTA is parsed minimally here: the join table, not the header, names
   the species.
2. Each sequence becomes a k-mer frequency profile (k=5, 1024 bins). The sequences cover different
   stretches of the 18S gene (862-3501 bp), so they cannot be compared position by position without
   an alignment; k-mer frequencies are alignment-free and mostly insensitive to where a fragment
   starts. The genetic distance between two species is the net divergence of these profiles (mean
   between-species profile distance minus the mean within-species distance, Nei's D_A), which removes
   the floor that fragment-to-fragment noise puts under every distance.

ForamSim's k-mer tree (``visgen.sim.trees.kmer_upgma``) and the held-out folds' leaf order
(``visgen.data.heldout``) are both built on these distances. Pure numpy/scipy, deterministic.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.spatial.distance import pdist, squareform

from visgen.resources import data_path

log = logging.getLogger(__name__)

KMER = 5


def read_sequences_by_species(fasta: Path | None = None, join: Path | None = None) -> dict[str, list[str]]:
    """Group the real 18S sequences by image species.

    Args:
        fasta: FASTA whose headers start with ``>ACCESSION``; default the shipped 18S file.
        join: CSV with columns ``accession,image_species``; default the shipped join table.

    Returns:
        ``{image_species: [lowercase sequence, ...]}``; sequences whose accession is not in the join
        table (species outside the 32 image classes) are left out.
    """
    fasta = fasta or data_path("foram_18S_rDNA.fasta")
    join = join or data_path("image_dna_join.csv")
    with open(join, newline="") as fh:
        species_of = {row["accession"]: row["image_species"] for row in csv.DictReader(fh)}
    records: dict[str, list[str]] = {}
    acc, chunks, skipped = None, [], -1  # the sentinel record at the start is not a skip
    for line in [*Path(fasta).read_text().splitlines(), ">END"]:
        if line.startswith(">"):
            if acc in species_of:
                records.setdefault(species_of[acc], []).append("".join(chunks).lower())
            else:
                skipped += 1
            acc, chunks = line[1:].split()[0], []
        else:
            chunks.append(line.strip())
    n_kept = sum(map(len, records.values()))
    log.debug(
        "18S of the image species: %d sequences; skipped %d (species outside the image classes)",
        n_kept,
        skipped,
    )
    return records


def kmer_counts(seq: str, k: int = KMER) -> np.ndarray:
    """Counts of each k-mer of one sequence; windows with a symbol other than a, c, g, t (any case) are skipped.

    The k-mer ``b_1 .. b_k`` is bin ``sum_i idx(b_i) * 4**(k - i)`` with ``idx`` = a 0, c 1, g 2, t 3.

    Returns:
        float64 ``[4**k]`` (all zero for a sequence shorter than k).
    """
    code = np.full(256, -1, dtype=np.int64)
    for i, base in enumerate("acgt"):
        code[ord(base)] = code[ord(base.upper())] = i
    digits = code[np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)]
    if digits.size < k:
        return np.zeros(4**k)
    windows = np.lib.stride_tricks.sliding_window_view(digits, k)
    valid = (windows >= 0).all(axis=1)
    idx = windows[valid] @ (4 ** np.arange(k - 1, -1, -1))
    return np.bincount(idx, minlength=4**k).astype(np.float64)


def kmer_profile(seq: str, k: int = KMER) -> np.ndarray:
    """Relative k-mer frequencies of one sequence (``kmer_counts`` normalised; all zero without a window).

    Returns:
        float64 ``[4**k]`` summing to 1.
    """
    counts = kmer_counts(seq, k)
    return counts / max(counts.sum(), 1.0)


@lru_cache(maxsize=4)
def _genetic_distances(species: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    seqs = read_sequences_by_species()
    names = tuple(s for s in species if s in seqs)
    profiles = [np.stack([kmer_profile(q) for q in seqs[s]]) for s in names]
    d_seq = squareform(pdist(np.concatenate(profiles)))
    # member[n, s] = 1 if sequence n belongs to species s: block sums of d_seq in one product.
    sizes = np.array([len(p) for p in profiles])
    member = np.repeat(np.eye(len(names)), sizes, axis=0)
    sums = member.T @ d_seq @ member
    between = sums / np.outer(sizes, sizes)
    within = np.diag(sums) / (sizes * (sizes - 1))  # every DNA species has >= 2 sequences
    # Net divergence (Nei's D_A): between-species distance minus the within-species floor, which here
    # is mostly k-mer noise from sequencing different stretches of the gene, not evolution.
    net = np.maximum(between - (within[:, None] + within[None, :]) / 2, 0.0)
    np.fill_diagonal(net, 0.0)
    return net, names


def genetic_distances(species: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Alignment-free genetic distances between the image species that have 18S sequences.

    The distance is the net divergence of k-mer profiles: the mean profile distance between the
    sequences of two species minus the mean of their within-species distances (Nei's D_A).

    Args:
        species: image species names; those without sequences are left out.

    Returns:
        ``(D [S, S] float64, names)`` for the ``S`` species of ``species`` that have DNA, in that order.
    """
    net, names = _genetic_distances(tuple(species))
    return net.copy(), list(names)
