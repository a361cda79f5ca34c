"""FAISS index construction and search for ``visgen.eval.knn`` (flat exact, IVF-Flat, IVF-PQ, HNSW).

Pure functions on numpy arrays. The gallery is converted (float32, L2-normalised for cosine) and added
``add_batch`` rows at a time, so the extra memory is one batch, not a second copy of the gallery.

Flat keeps the historical exact path: ``IndexFlatL2`` (Euclidean) or ``IndexFlatIP`` over normalised vectors
(cosine). The approximate indexes always search by L2 — on normalised vectors for cosine, where
``|a − b|² = 2 − 2·cos`` gives the same order — and their candidates are then re-scored by exact distance
against the gallery, so every returned distance is a true one (Euclidean, not squared; cosine 1 − cos) and
only *which* neighbours come back is approximate. A gallery the chosen index cannot be built on (fewer
vectors than IVF cells or PQ centroids, a PQ split that does not divide the dimension) is searched with
flat instead, with the reason logged: the callback runs after an epoch of training, and an exact answer is
always a correct one, whereas an error there would throw the epoch away.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import faiss
import numpy as np

from visgen.eval.knn_settings import IndexKind, IndexSettings

log = logging.getLogger(__name__)

#: Queries re-scored per block: bounds the [block, k', D] gather to ~40 MB at k'=20, D=256.
_RERANK_BLOCK = 1024


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` [N, D] scaled to unit length (zero rows stay zero), float32 C-contiguous."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def _prepared(x: np.ndarray, cosine: bool) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return l2_normalise(x) if cosine else x


def _batches(x: np.ndarray, size: int, cosine: bool) -> Iterator[np.ndarray]:
    for start in range(0, x.shape[0], size):
        yield _prepared(x[start : start + size], cosine)


def training_rows(n: int, settings: IndexSettings) -> int:
    """How many of ``n`` gallery vectors train IVF/PQ: ``train_size`` of them, or all."""
    return n if settings.train_size is None else min(settings.train_size, n)


def auto_nlist(n: int, n_train: int) -> int:
    """IVF cells for ``n`` vectors trained on ``n_train``: ``4·sqrt(n)``, at most ``n_train // 39``, since
    FAISS's k-means wants >= 39 training points per cell."""
    return max(1, min(int(4 * math.sqrt(n)), n_train // 39))


def _nlist(n: int, settings: IndexSettings) -> int:
    return settings.nlist or auto_nlist(n, training_rows(n, settings))


def effective_kind(kind: IndexKind, n: int, d: int, settings: IndexSettings) -> tuple[IndexKind, str | None]:
    """The index actually built for an [n, d] gallery, and why it is not ``kind`` (None if it is)."""
    # k-means needs at least as many training vectors as centroids: IVF's nlist cells, PQ's 2^nbits codes.
    n_train = training_rows(n, settings)
    if kind in ("ivf_flat", "ivf_pq"):
        nlist = _nlist(n, settings)
        if n_train < nlist:
            return "flat", f"{kind} needs at least nlist={nlist} training vectors, got {n_train} of {n}"
    if kind == "ivf_pq":
        if d % settings.pq_m:
            return "flat", f"ivf_pq: pq_m={settings.pq_m} does not divide the embedding dimension {d}"
        if n_train < 2**settings.pq_nbits:
            need = 2**settings.pq_nbits
            return (
                "flat",
                f"ivf_pq: pq_nbits={settings.pq_nbits} needs >= {need} training vectors, got {n_train}",
            )
    return kind, None


def _gpu_ok(kind: IndexKind, settings: IndexSettings) -> bool:
    if not settings.gpu:
        return False
    # CPU-only FAISS wheels have no StandardGpuResources; HNSW has no GPU implementation in FAISS.
    if kind == "hnsw" or not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        log.warning("knn index %s: gpu=true but FAISS has no GPU index for it here; building on CPU", kind)
        return False
    return True


def _empty_index(kind: IndexKind, d: int, n: int, metric: str, settings: IndexSettings) -> faiss.Index:
    if kind == "flat":
        return faiss.IndexFlatL2(d) if metric == "euclidean" else faiss.IndexFlatIP(d)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, settings.hnsw_m, faiss.METRIC_L2)
        index.hnsw.efSearch = settings.ef_search
        return index
    nlist = _nlist(n, settings)
    quantizer = faiss.IndexFlatL2(d)
    if kind == "ivf_flat":
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_L2)
    else:
        index = faiss.IndexIVFPQ(quantizer, d, nlist, settings.pq_m, settings.pq_nbits)
        index.pq.cp.seed = settings.seed
        # effective_kind already demands >= 2^nbits vectors; FAISS's own 39-per-centroid advice would print
        # one warning per sub-quantizer at every evaluation of a modest gallery.
        index.pq.cp.min_points_per_centroid = 1
    index.cp.seed = settings.seed
    index.nprobe = min(settings.nprobe, nlist)
    return index


def build_index(
    gallery: np.ndarray, metric: str, kind: IndexKind = "flat", settings: IndexSettings | None = None
) -> tuple[faiss.Index, IndexKind]:
    """Build and fill the index over ``gallery``.

    Args:
        gallery: float [N, D]. metric: ``"euclidean"`` or ``"cosine"``.
        kind: the requested index; settings: its settings (defaults when None).

    Returns:
        ``(index, kind built)``; the kind is ``"flat"`` when the gallery does not fit the request (logged).
    """
    settings = settings or IndexSettings()
    n, d = gallery.shape
    cosine = metric == "cosine"
    built, reason = effective_kind(kind, n, d, settings)
    if reason is not None:
        log.warning("knn index: %s; searching with flat (exact) instead", reason)
    index = _empty_index(built, d, n, metric, settings)
    if _gpu_ok(built, settings):
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    if built in ("ivf_flat", "ivf_pq"):
        take = training_rows(n, settings)
        rows = np.sort(np.random.default_rng(settings.seed).choice(n, size=take, replace=False))
        index.train(_prepared(gallery[rows], cosine))
    for chunk in _batches(gallery, settings.add_batch, cosine):
        index.add(chunk)
    return index, built


def _exact_rerank(
    gallery: np.ndarray, queries: np.ndarray, cand: np.ndarray, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """True distances [M, k'] float64 of each query to its candidate rows ``cand`` [M, k']; inf where -1."""
    valid = cand >= 0
    cand = np.where(valid, cand, 0)
    dist = np.empty(cand.shape, dtype=np.float64)
    cosine = metric == "cosine"
    for start in range(0, len(queries), _RERANK_BLOCK):
        q = _prepared(queries[start : start + _RERANK_BLOCK], cosine).astype(np.float64)
        c = cand[start : start + _RERANK_BLOCK]
        g = _prepared(gallery[c.ravel()], cosine).astype(np.float64).reshape(*c.shape, -1)
        if cosine:
            dist[start : start + len(q)] = 1.0 - np.einsum("md,mkd->mk", q, g)
        else:
            dist[start : start + len(q)] = np.sqrt(((g - q[:, None, :]) ** 2).sum(-1))
    dist[~valid] = np.inf  # sorts after every real candidate; the first k are real (see search_index)
    return dist, np.where(valid, cand, -1)


def search_index(
    index: faiss.Index,
    kind: IndexKind,
    gallery: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: str,
    settings: IndexSettings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest gallery rows of each query through ``index`` (as built by ``build_index``).

    Returns:
        ``dist`` [M, k] true distances (flat: FAISS's own, as float32/64 arrays; others: exact re-scores) and
        ``idx`` int64 [M, k], not yet tie-ordered (``knn_search`` does that).
    """
    settings = settings or IndexSettings()
    cosine = metric == "cosine"
    q = _prepared(queries, cosine)
    if kind == "flat":
        raw, idx = index.search(q, k)
        dist = 1.0 - raw if cosine else np.sqrt(np.maximum(raw, 0.0))
        return dist, idx
    wanted = min(gallery.shape[0], k * (settings.pq_rerank if kind == "ivf_pq" else 1))
    if kind == "hnsw":
        index.hnsw.efSearch = max(settings.ef_search, wanted)
    _, cand = index.search(q, wanted)
    # IVF returns -1 where the probed cells hold fewer than `wanted` vectors: those queries go exhaustive.
    short = (cand[:, :k] < 0).any(axis=1)
    if short.any():
        log.info(
            "knn index %s: %d of %d queries found < k=%d candidates in their nprobe cells; searched exactly",
            kind, int(short.sum()), len(q), k,
        )  # fmt: skip
        flat, _ = build_index(gallery, metric, "flat", settings)
        _, exact = flat.search(q[short], wanted)
        cand[short] = exact
    return _exact_rerank(gallery, queries, cand, metric)
