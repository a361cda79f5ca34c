"""Species anchors as ``load_genetic_anchors`` returns and caches them: per species, never per sequence.

The cache file holds what the anchors need and what the log reports — S anchors, the S species' sequence counts,
the genetic-name -> image-class map and the reader's counts — so its size and the memory to load it grow with
the number of species, not with the millions of barcodes a table may hold. Pure numpy, torch-free.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Bump when the computation or the file's contents change, so old cache files are not reused. 3: anchors,
# counts and the name map only (2 held every per-sequence embedding, id and sequence). 4: medoid distances from
# the Gram matrix (a near-tie between medoid candidates may now resolve the other way).
CACHE_VERSION = 4


@dataclass
class GeneticAnchors:
    """Per-species anchors and what the reader saw.

    Attributes:
        species: S image-class species names (sorted), the rows of ``anchors``.
        anchors: [S, D] float64 anchors (D = 256 for the dinucleotide SGT).
        counts: [S] int64 usable sequences per species (all of them, also where a medoid used a sample).
        genetic_names: genetic species name (as the file spells it, normalised) -> image-class name, for every
            species with a usable record.
        n_read: records (or table rows) read.
        skipped: records skipped, by reason.
        summary: the reader's one-line summary (records read, kept, skipped by reason).
    """

    species: list[str]
    anchors: np.ndarray
    counts: np.ndarray
    genetic_names: dict[str, str]
    n_read: int
    skipped: dict[str, int]
    summary: str

    def name_map(self) -> dict[str, str]:
        """Genetic species name -> image-class name, for every species in the file."""
        return dict(self.genetic_names)

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


def cache_key(source: Path, options: Mapping[str, object]) -> str:
    """20 hex digits of SHA-256 over the input file's bytes and the options (with ``CACHE_VERSION``)."""
    with open(source, "rb") as fh:  # read in blocks: a barcode table can be gigabytes (same digest as whole)
        digest = hashlib.file_digest(fh, "sha256")
    digest.update(json.dumps({**options, "version": CACHE_VERSION}, sort_keys=True).encode())
    return digest.hexdigest()[:20]


def save(path: Path, result: GeneticAnchors) -> None:
    """Write atomically (temp file + rename) so a killed run never leaves a half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    genetic = sorted(result.genetic_names)
    with open(tmp, "wb") as fh:
        np.savez(
            fh,
            species=np.array(result.species, dtype=str), anchors=result.anchors,
            counts=np.asarray(result.counts, dtype=np.int64), genetic=np.array(genetic, dtype=str),
            image=np.array([result.genetic_names[g] for g in genetic], dtype=str),
            n_read=np.array(result.n_read), skipped=np.array(json.dumps(result.skipped, sort_keys=True)),
            summary=np.array(result.summary),
        )  # fmt: skip
    os.replace(tmp, path)


def load(path: Path) -> GeneticAnchors:
    """The ``GeneticAnchors`` that ``save`` wrote (OSError, ValueError, KeyError or BadZipFile if unreadable)."""
    with np.load(path, allow_pickle=False) as z:
        return GeneticAnchors(
            species=z["species"].tolist(), anchors=z["anchors"], counts=z["counts"],
            genetic_names=dict(zip(z["genetic"].tolist(), z["image"].tolist(), strict=True)),
            n_read=int(z["n_read"]), skipped=json.loads(str(z["skipped"])), summary=str(z["summary"]),
        )  # fmt: skip
