"""A species tree from the real 18S rDNA, and Brownian-motion traits evolved along it.

ForamSim's species traits must be coupled to the real genetics, so that closely related species
look alike (and are therefore confusable) exactly as far as Pagel's lambda says. The chain is:

1. Every real 18S sequence is joined to its image species through ``image_dna_join.csv``
   (accession -> image-class name), which already resolves the synonyms (Trilobatus sacculifer =
   Globigerinoides_sacculifer, ...). The FASTA is parsed minimally here to keep this module free of
   the genetics package.
2. Each sequence becomes a k-mer frequency profile (k=5, 1024 bins). The sequences cover different
   stretches of the 18S gene (862-3501 bp), so they cannot be compared position by position without
   an alignment; k-mer frequencies are alignment-free and mostly insensitive to where a fragment
   starts. The genetic distance between two species is the net divergence of these profiles (mean
   between-species profile distance minus the mean within-species distance, Nei's D_A), which removes
   the floor that fragment-to-fragment noise puts under every distance.
3. UPGMA (average linkage) turns the distances into an ultrametric tree; its shared-path
   covariance ``C[i, j]`` (root-to-MRCA depth, normalised so the tips have depth 1) is the
   covariance of a Brownian motion run along the tree.
4. Pagel's lambda scales the internal branches: ``C_lambda = lambda*C + (1-lambda)*diag(C)``.

All functions are pure numpy/scipy and deterministic given their inputs.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist, squareform

from visgen.resources import data_path

log = logging.getLogger(__name__)

KMER = 5

# Species without any 18S sequence in the shared data, placed as the sister of a congener.
# - Globorotalia_crassaformis -> Globorotalia_truncatulinoides: G. truncatulinoides descends from
#   G. crassaformis (both in the subgenus Truncorotalia; the classic Pliocene ancestor-descendant pair).
# - Turborotalita_humilis -> Turborotalita_quinqueloba: the only congener with DNA here.
# - Globigerinella_adamsi -> Globigerinella_siphonifera: a congener in the planispiral Globigerinella
#   clade; of its two congeners with DNA, siphonifera has far more sequences (23 vs 2), so the placement
#   rests on a stable profile.
# The sister pair is joined at a small genetic distance (SISTER_QUANTILE of all inter-species distances),
# i.e. as a recent split, the conservative guess for an unsequenced congener (capped at half the
# sister's nearest distance so the pair stays sisters in the UPGMA tree).
NO_DNA_SISTERS: dict[str, str] = {
    "Globorotalia_crassaformis": "Globorotalia_truncatulinoides",
    "Turborotalita_humilis": "Turborotalita_quinqueloba",
    "Globigerinella_adamsi": "Globigerinella_siphonifera",
}
SISTER_QUANTILE = 0.05


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


def kmer_profile(seq: str, k: int = KMER) -> np.ndarray:
    """Relative k-mer frequencies of one sequence; windows with non-ACGT symbols are ignored.

    Returns:
        float64 ``[4**k]`` summing to 1.
    """
    code = np.full(256, -1, dtype=np.int64)
    for i, base in enumerate("acgt"):
        code[ord(base)] = i
    digits = code[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
    n = digits.size - k + 1
    windows = np.lib.stride_tricks.sliding_window_view(digits, k)[:n]
    valid = (windows >= 0).all(axis=1)
    idx = windows[valid] @ (4 ** np.arange(k - 1, -1, -1))
    counts = np.bincount(idx, minlength=4**k).astype(np.float64)
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


def place_missing(dist: np.ndarray, names: list[str], all_species: Sequence[str]) -> np.ndarray:
    """Extend a distance matrix to ``all_species`` by placing each species without DNA next to its sister.

    Args:
        dist: ``[S, S]`` distances between ``names``.
        all_species: the full species list (order of the result).

    Returns:
        ``[N, N]`` distances over ``all_species``; a placed species copies its sister's row and sits
        ``SISTER_QUANTILE`` of the inter-species distances away from it (or half the sister's nearest
        distance, if smaller).
    """
    index = {s: i for i, s in enumerate(names)}
    delta = float(np.quantile(dist[np.triu_indices_from(dist, 1)], SISTER_QUANTILE))
    proxy = []
    for s in all_species:
        if s in index:
            proxy.append(index[s])
        elif s in NO_DNA_SISTERS:
            proxy.append(index[NO_DNA_SISTERS[s]])
        else:
            raise KeyError(f"{s} has no 18S sequence and no documented sister in NO_DNA_SISTERS")
    proxy_arr = np.array(proxy)
    full = dist[np.ix_(proxy_arr, proxy_arr)].copy()
    for i, j in zip(*np.nonzero(proxy_arr[:, None] == proxy_arr[None, :]), strict=True):
        if i != j:
            # The sister pair: a recent split, and always closer than the sister's nearest neighbour,
            # so that UPGMA joins the pair before anything else.
            row = dist[proxy_arr[i]]
            full[i, j] = min(delta, 0.5 * float(np.min(row[row > 0])))
    return full


def tree_covariance(dist: np.ndarray) -> np.ndarray:
    """Shared-path covariance of the UPGMA tree built from ``dist``, with unit tip depth.

    In an ultrametric tree of height H, the path shared by tips i and j from the root has length
    ``H - h(mrca(i, j))`` and ``h(mrca) = cophenetic(i, j) / 2``; that is the Brownian-motion covariance.

    Args:
        dist: ``[N, N]`` symmetric distances.

    Returns:
        ``[N, N]`` float64 covariance with ones on the diagonal.
    """
    from scipy.cluster.hierarchy import cophenet

    z = linkage(squareform(dist, checks=False), method="average")
    coph = squareform(cophenet(z))
    height = coph.max() / 2.0
    cov = (height - coph / 2.0) / height
    np.fill_diagonal(cov, 1.0)
    return cov


def pagel_lambda(cov: np.ndarray, lam: float) -> np.ndarray:
    """Pagel's lambda transform ``lam*C + (1-lam)*diag(C)`` (1: the tree, 0: a star, i.e. independence)."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"phylo_signal (Pagel's lambda) must lie in [0, 1], got {lam}")
    return lam * cov + (1.0 - lam) * np.diag(np.diag(cov))


def brownian_traits(cov: np.ndarray, n_traits: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n_traits`` independent Brownian-motion characters with species covariance ``cov``.

    Uses the symmetric square root (eigendecomposition), which tolerates the zero-length branches that
    identical profiles would give, where a Cholesky factor would fail.

    Returns:
        ``[N, n_traits]`` float64, each column ~ N(0, cov).
    """
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return root @ rng.standard_normal((cov.shape[0], n_traits))


def species_covariance(all_species: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The tree covariance over ``all_species`` and the raw genetic distances of those with DNA.

    Returns:
        ``(C [N, N], D [S, S], names_with_dna)``.
    """
    dist, names = genetic_distances(all_species)
    return tree_covariance(place_missing(dist, names, all_species)), dist, names
