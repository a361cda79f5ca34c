"""DNA embeddings and species anchors in bounded memory: records in as an iterator, encoded a chunk at a time.

A species anchor needs no more than a running statistic, so nothing here holds all N vectors or all N strings:

* the mean is exact (float64 sums and integer counts per species, whatever the chunk size);
* the medoid is the exact medoid of a seeded reservoir sample of at most ``medoid_bound`` vectors per species
  (Vitter's algorithm R: the first ``bound`` members in order, then member ``c`` replaces a random slot with
  probability ``bound / c``), so it equals ``species_anchors(..., "medoid")`` when a species has <= ``bound``
  sequences, and the memory is ``S * bound * D`` floats otherwise;
* the per-coordinate median, likewise, is the exact median of that reservoir;
* optionally every per-sequence vector is written as float32 to a ``.npy`` memory map (``open_memmap``) with the
  ids and species in a ``.npz`` beside it, so the disk holds what memory does not.

Memory is O(chunk * D + S * (D + bound * D)) plus the per-record strings of one chunk. Pure numpy, torch-free.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from visgen.genetics.anchors import species_anchors
from visgen.genetics.encoders import DnaEncoder
from visgen.genetics.fasta import SequenceRecord

DEFAULT_CHUNK = 4096  # 4096 x 256 float64 = 8 MiB per chunk: large enough that SGT's batches stay full
DEFAULT_MEDOID_BOUND = (
    512  # 512 x 256 float32 = 0.5 MiB per species; the medoid's O(bound^2) distances stay cheap
)
#: ``genetics.reduce`` values: the per-species statistics a stream gives in bounded memory.
REDUCTIONS = ("mean", "median", "medoid")


def reduce_problems(reduce: object, medoid_sample: object) -> list[str]:
    """What is wrong with ``genetics.reduce`` and ``genetics.medoid_sample``, one line each naming the key (empty: fine).

    Torch-free and cheap, so the config check and ``load_genetic_anchors`` ask it before anything is read.
    """
    from visgen.errors import is_int

    problems = []
    if reduce not in REDUCTIONS:
        problems.append(f"genetics.reduce={reduce}: unknown value; use one of {', '.join(REDUCTIONS)}")
    if not (is_int(medoid_sample) and medoid_sample >= 1):
        problems.append(
            f"genetics.medoid_sample={medoid_sample}: must be an integer >= 1 (sequences kept per species for "
            f"the medoid or median), e.g. {DEFAULT_MEDOID_BOUND}"
        )
    return problems


def chunked(records: Iterable[SequenceRecord], size: int) -> Iterator[list[SequenceRecord]]:
    """Consecutive lists of ``size`` records (the last may be shorter); reads ``records`` lazily."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    it = iter(records)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


@dataclass
class StreamingAnchors:
    """Per-species running sums, counts and (optionally) a bounded reservoir of vectors.

    Attributes:
        medoid_bound: reservoir size per species; None = no reservoir (mean only).
        seed: seed of the reservoir's random replacements (deterministic given the record order).
    """

    medoid_bound: int | None = None
    seed: int = 0
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    reservoirs: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.medoid_bound is not None and self.medoid_bound < 1:
            raise ValueError(f"medoid_bound must be >= 1, got {self.medoid_bound}")
        self._rng = np.random.default_rng(self.seed)

    def update(self, vectors: np.ndarray, species: list[str]) -> None:
        """Add a chunk: float [n, D] vectors and their n species names."""
        names, labels = np.unique(np.asarray(species, dtype=str), return_inverse=True)
        sums = np.zeros((len(names), vectors.shape[1]))
        np.add.at(sums, labels, vectors)
        for k, name in enumerate(names.tolist()):
            self.sums[name] = self.sums.get(name, 0.0) + sums[k]
        if self.medoid_bound is None:
            for k, name in enumerate(names.tolist()):
                self.counts[name] = self.counts.get(name, 0) + int((labels == k).sum())
            return
        bound = self.medoid_bound
        for row, name in zip(vectors.astype(np.float32), species, strict=True):
            seen = self.counts.get(name, 0) + 1
            self.counts[name] = seen
            kept = self.reservoirs.setdefault(name, [])
            if seen <= bound:
                kept.append(row.copy())  # a copy: a view would keep its whole chunk alive
            else:
                slot = int(self._rng.integers(seen))
                if slot < bound:
                    kept[slot] = row.copy()

    def anchors(self, statistic: str = "mean") -> tuple[list[str], np.ndarray]:
        """``(names, anchors [S, D] float64)``, names sorted as ``species_anchors`` sorts them.

        Args:
            statistic: ``"mean"`` (exact), or ``"medoid"`` / ``"median"`` of each species' reservoir.

        Raises:
            ValueError: a statistic not in ``REDUCTIONS``, or medoid / median without a reservoir.
        """
        names = sorted(self.counts)
        if statistic == "mean":
            return names, np.array([self.sums[n] / self.counts[n] for n in names]).reshape(len(names), -1)
        if statistic not in REDUCTIONS or self.medoid_bound is None:
            raise ValueError(
                f"streaming anchors give mean, or medoid / median with a medoid_bound; not {statistic!r}"
            )
        rows = [
            species_anchors(
                np.array(self.reservoirs[n], dtype=np.float64), [n] * len(self.reservoirs[n]), statistic
            )[1][0]
            for n in names
        ]
        return names, np.array(rows).reshape(len(names), -1)


@dataclass
class StreamResult:
    """What a stream produced.

    Attributes:
        anchors: the per-species reduction.
        n: records encoded.
        dim: D of the vectors (0 when no record came).
    """

    anchors: StreamingAnchors
    n: int = 0
    dim: int = 0


def stream_encode(
    records: Iterable[SequenceRecord],
    encoder: DnaEncoder,
    *,
    chunk: int = DEFAULT_CHUNK,
    medoid_bound: int | None = None,
    seed: int = 0,
    memmap: str | Path | None = None,
    n_records: int | None = None,
    on_chunk: Callable[[list[SequenceRecord], np.ndarray], None] | None = None,
) -> StreamResult:
    """Encode ``records`` a chunk at a time with a per-sequence encoder and reduce them per species.

    Args:
        records: usable records (e.g. ``iter_fasta`` or ``iter_barcode_table``), read lazily.
        encoder: a per-sequence ``DnaEncoder`` (``per_species`` encoders compare whole species; refused).
        chunk: records encoded per ``encoder.encode`` call.
        medoid_bound: reservoir size per species for a medoid (e.g. ``DEFAULT_MEDOID_BOUND``); None = mean only.
        seed: the reservoir's seed.
        memmap: write every vector as float32 to this ``.npy`` ([N, D], rows in stream order) and the ids and
            species to ``<stem>.ids.tsv`` beside it (``id<TAB>species`` per row, written chunk by chunk).
            Needs ``n_records`` (N), because a ``.npy`` fixes its shape.
        n_records: the number of records ``records`` yields (checked).
        on_chunk: called with each chunk's records and its float64 [n, D] vectors (e.g. to keep them).

    Returns:
        The reduction, N and D.

    Raises:
        ValueError: a per-species encoder, ``memmap`` without ``n_records``, or a stream of another length.
    """
    if encoder.per_species:
        raise ValueError(f"{encoder.name} encodes whole species at once; it cannot be streamed")
    if memmap is not None and n_records is None:
        raise ValueError("a memmap output needs n_records: a .npy's shape is fixed when it is created")
    result = StreamResult(StreamingAnchors(medoid_bound=medoid_bound, seed=seed))
    rows = None
    with contextlib.ExitStack() as stack:
        ids = None if memmap is None else stack.enter_context(open(id_file(memmap), "w", encoding="utf-8"))
        for part in chunked(records, chunk):
            vectors = np.asarray(encoder.encode([r.sequence for r in part]), dtype=np.float64)
            result.anchors.update(vectors, [r.species for r in part])
            if memmap is not None:
                if result.n + len(part) > n_records:
                    raise ValueError(f"the stream has more than n_records={n_records} records")
                if rows is None:
                    rows = stack.enter_context(_open_rows(memmap, (n_records, vectors.shape[1])))
                rows.write(vectors.astype("<f4").tobytes())
                ids.writelines(f"{r.id}\t{r.species}\n" for r in part)
            if on_chunk is not None:
                on_chunk(part, vectors)
            result.n += len(part)
            result.dim = vectors.shape[1]
    if memmap is not None and result.n != n_records:
        raise ValueError(f"the stream has {result.n} records, not n_records={n_records}")
    return result


@contextlib.contextmanager
def _open_rows(path: str | Path, shape: tuple[int, int]) -> Iterator[BinaryIO]:
    """A file handle positioned at row 0 of a new float32 ``.npy`` of ``shape`` (made by ``open_memmap``).

    Rows go in by ordinary writes, not through the map: every page written through a map stays resident in the
    process (and in its peak RSS) until it is unmapped, which at 5 M x 256 float32 would be 5 GB.
    """
    made = np.lib.format.open_memmap(path, mode="w+", dtype="<f4", shape=shape)
    offset = made.offset
    del made
    with open(path, "r+b") as fh:
        fh.seek(offset)
        yield fh


def id_file(memmap: str | Path) -> Path:
    """The ``id<TAB>species`` file written beside a memmap ``.npy``."""
    path = Path(memmap)
    return path.with_name(path.stem + ".ids.tsv")
