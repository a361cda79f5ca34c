"""Which FAISS index the KNN search uses, and the config check of its settings.

Kept apart from ``visgen.eval.knn_index`` (which imports FAISS) so that the config check before a run stays
a plain-Python look at a mapping. ``flat`` is exact and the default; the others trade recall for speed on
galleries of 10^5 vectors and more:

- ``ivf_flat``: k-means cells (``nlist``), a query scans the ``nprobe`` nearest cells, vectors stored whole.
- ``ivf_pq``: the same cells, vectors stored as ``pq_m`` codes of ``pq_nbits`` bits (32 B per vector at the
  defaults instead of 4·D); ``pq_rerank``·k candidates are re-ranked by exact distance.
- ``hnsw``: a navigable small-world graph with ``hnsw_m`` links per vector, searched with ``ef_search``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

IndexKind = Literal["flat", "ivf_flat", "ivf_pq", "hnsw"]
INDEX_KINDS: tuple[str, ...] = ("flat", "ivf_flat", "ivf_pq", "hnsw")


@dataclass(frozen=True)
class IndexSettings:
    """Settings of the approximate indexes (``flat`` reads only ``add_batch``).

    Attributes:
        nlist: IVF cells; None = ``4·sqrt(N)`` capped at (training rows) // 39, since FAISS's k-means
            wants >= 39 training points per cell: the usual rule of thumb, and a small gallery still gets a
            usable index.
        nprobe: IVF cells scanned per query (recall rises with it, speed falls).
        pq_m: PQ sub-vectors; must divide the embedding dimension.
        pq_nbits: bits per PQ code (2^nbits centroids per sub-vector).
        pq_rerank: IVF-PQ fetches ``pq_rerank · k`` candidates by code distance and keeps the k nearest by
            exact distance (1 = no extra candidates).
        hnsw_m: graph links per vector.
        ef_search: HNSW candidate-list length at query time (>= k is enforced at search).
        train_size: rows sampled (seeded) to train IVF/PQ; None = all.
        add_batch: rows converted and added per call, which bounds the extra memory to one batch.
        seed: the training sample's and the k-means' seed.
        gpu: put flat and IVF indexes on the GPU when FAISS was built with CUDA and sees a device. Off by
            default: GPU flat sums in another order, so it would not reproduce the CPU numbers bit for bit.
    """

    nlist: int | None = None
    nprobe: int = 16
    pq_m: int = 16
    pq_nbits: int = 8
    pq_rerank: int = 4
    hnsw_m: int = 32
    ef_search: int = 64
    train_size: int | None = 65536
    add_batch: int = 65536
    seed: int = 0
    gpu: bool = False


# key -> (least value, whether None is allowed); every field but ``gpu``.
_BOUNDS: dict[str, tuple[int, bool]] = {
    "nlist": (1, True),
    "nprobe": (1, False),
    "pq_m": (1, False),
    "pq_nbits": (1, False),
    "pq_rerank": (1, False),
    "hnsw_m": (2, False),
    "ef_search": (1, False),
    "train_size": (1, True),
    "add_batch": (1, False),
    "seed": (0, False),
}
#: FAISS's PQ codebooks are trained by k-means over 2^nbits centroids: past 16 bits that is hopeless.
MAX_PQ_NBITS = 16


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def knn_index_problems(knn: Mapping[str, Any], key: str = "callbacks.knn_eval") -> list[str]:
    """What is wrong with a KNN node's ``index`` and ``index_settings`` (empty list = nothing).

    Args:
        knn: the ``callbacks.knn_eval`` config node (a mapping; ``index_settings`` may hold ``_target_``).
        key: the node's config path, for the messages.

    Returns:
        One ``"<key>=<value>: <what>; <fix>"`` sentence per problem.
    """
    problems: list[str] = []
    kind = knn.get("index", "flat")
    if kind not in INDEX_KINDS:
        problems.append(f"{key}.index={kind}: unknown index; use one of {', '.join(INDEX_KINDS)}")
    given = dict(knn.get("index_settings") or {})
    given.pop("_target_", None)
    known = {f.name for f in fields(IndexSettings)}
    for name in sorted(set(given) - known):
        problems.append(
            f"{key}.index_settings.{name}: unknown setting; use one of {', '.join(sorted(known))}"
        )
    for name, (least, nullable) in _BOUNDS.items():
        value = given.get(name, getattr(IndexSettings, name))
        if value is None and nullable:
            continue
        if not (_is_int(value) and value >= least):
            auto = " or null" if nullable else ""
            problems.append(f"{key}.index_settings.{name}={value}: must be an integer >= {least}{auto}")
    gpu = given.get("gpu", False)
    if not isinstance(gpu, bool):
        problems.append(f"{key}.index_settings.gpu={gpu}: must be true or false")
    nbits = given.get("pq_nbits", IndexSettings.pq_nbits)
    if _is_int(nbits) and nbits > MAX_PQ_NBITS:
        problems.append(f"{key}.index_settings.pq_nbits={nbits}: at most {MAX_PQ_NBITS}; 8 is the usual")
    nlist, nprobe = given.get("nlist"), given.get("nprobe", IndexSettings.nprobe)
    if _is_int(nlist) and _is_int(nprobe) and 1 <= nlist < nprobe:
        problems.append(
            f"{key}.index_settings.nprobe={nprobe}: more than nlist={nlist} cells; lower nprobe to <= nlist"
        )
    train = given.get("train_size", IndexSettings.train_size)
    if _is_int(train) and train >= 1:
        if _is_int(nlist) and train < nlist:
            problems.append(
                f"{key}.index_settings.train_size={train}: fewer than nlist={nlist} cells to train; "
                "raise train_size or lower nlist"
            )
        if _is_int(nbits) and 1 <= nbits <= MAX_PQ_NBITS and train < 2**nbits:
            problems.append(
                f"{key}.index_settings.train_size={train}: fewer than the 2^pq_nbits={2**nbits} PQ centroids; "
                "raise train_size or lower pq_nbits"
            )
    return problems
