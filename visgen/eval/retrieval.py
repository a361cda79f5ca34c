"""Retrieval accuracy in the peers' format: micro and macro top-k at species and genus level, seen vs unseen.

CLIBD and the BIOSCAN-5M benchmark score an embedding by retrieval: each query image looks up its nearest
keys (images of a key set, or DNA embeddings in the same space) and takes their labels. This module gives
those numbers for visgen's spaces, so a visgen table can sit beside theirs. Pure numpy.

Definitions (``retrieval_accuracy``):

- top-k: a query is right at top-k when its label is among the labels of its k nearest KEYS (keys, not
  distinct labels: five keys of one species fill the top-5 with one species). With fewer than k keys, all
  keys count. As in the peers' evaluation.
- genus level: each retrieved key's genus is the genus of its species (``genus``: class -> genus); right when
  one of the k nearest keys' genera is the query's genus. A wrong species of the right genus counts.
- micro: mean over the queries of a subset; macro: mean over the labels AT THAT LEVEL present among the
  subset's queries (species for species level, genera for genus level) of each label's micro accuracy.
  As in the peers' evaluation; note that ``visgen.eval.mistakes.genus_accuracy`` averages genus hits per
  SPECIES instead.
- seen / unseen: queries whose species is in ``seen`` / is not; both subsets retrieve from the same keys.
  An empty subset gives NaN (and ``n_queries`` 0).

Where this differs from the peers' code:

- ties: keys tied (up to a relative 1e-9) with the k-th nearest key are drawn uniformly at random in
  expectation, so a hit can count a fraction; their index search breaks ties by whatever order it meets the
  keys. A space that maps several species onto one point (the ridge map of whitened anchors puts every
  target on one prototype up to ~1e-12) then scores chance, not whichever key rounding put first.
- distance: cosine or Euclidean (``metric``); the peers always use cosine on unit vectors.
- fewer than k keys: all keys are retrieved; their index search would return missing neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

METRICS: tuple[str, ...] = ("cosine", "euclidean")
SUBSETS: tuple[str, ...] = ("seen", "unseen")
LEVELS: tuple[str, ...] = ("species", "genus")
#: Queries scored per block: a block's [block, K] distance matrix stays ~100 MB for K = 10^4 keys.
BLOCK = 1024


def retrieval_accuracy(
    queries: np.ndarray,
    query_labels: np.ndarray,
    keys: np.ndarray,
    key_labels: np.ndarray,
    genus: Sequence[Any] | np.ndarray,
    seen: Collection[int],
    *,
    ks: Sequence[int] = (1, 5),
    metric: str = "cosine",
) -> dict[str, float]:
    """Micro / macro top-k retrieval accuracy at species and genus level, for seen and unseen queries.

    Args:
        queries: [Q, D] query embeddings.
        query_labels: int [Q] query species, in [0, C).
        keys: [K, D] key embeddings, in the same space as the queries.
        key_labels: int [K] key species, in [0, C).
        genus: [C] the genus of each class (any hashable labels: ids or names); equal = same genus.
        seen: the seen classes; a query of any other class is unseen.
        ks: the k of each top-k.
        metric: ``cosine`` (rows scaled to unit length) or ``euclidean``.

    Returns:
        ``{"<seen|unseen>/<species|genus>/<micro|macro>_top<k>": fraction, "<seen|unseen>/n_queries": n}``;
        NaN for a subset without a query.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    queries, keys = np.asarray(queries, dtype=np.float64), np.asarray(keys, dtype=np.float64)
    query_labels = np.asarray(query_labels, dtype=np.int64)
    key_labels = np.asarray(key_labels, dtype=np.int64)
    _, genus_id = np.unique(np.asarray(genus), return_inverse=True)
    n_classes = len(genus_id)
    for name, labels, rows in (("query", query_labels, queries), ("key", key_labels, keys)):
        if labels.ndim != 1 or len(labels) != len(rows) or rows.ndim != 2:
            raise ValueError(f"{name}s {rows.shape} and their labels {labels.shape}: need [n, D] and [n]")
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"a {name} label outside [0, {n_classes}): {labels.min()}..{labels.max()}")
    if queries.shape[1] != keys.shape[1]:
        raise ValueError(f"queries are {queries.shape[1]}-D but keys {keys.shape[1]}-D")
    levels = {"species": (query_labels, key_labels), "genus": (genus_id[query_labels], genus_id[key_labels])}
    hits = level_hits(queries, keys, levels, ks, metric)
    is_seen = np.isin(query_labels, list(seen))
    out: dict[str, float] = {}
    for subset, rows in (("seen", is_seen), ("unseen", ~is_seen)):
        out[f"{subset}/n_queries"] = int(rows.sum())
        for level in LEVELS:
            labels = query_labels[rows] if level == "species" else genus_id[query_labels[rows]]
            for k in ks:
                micro, macro = micro_macro(hits[level, k][rows], labels)
                out[f"{subset}/{level}/micro_top{k}"] = micro
                out[f"{subset}/{level}/macro_top{k}"] = macro
    return out


def micro_macro(hit: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(mean of ``hit`` [n], mean over the distinct ``labels`` [n] of their mean hit); NaN, NaN when n = 0."""
    if not len(hit):
        return math.nan, math.nan
    _, group, counts = np.unique(labels, return_inverse=True, return_counts=True)
    per_label = np.bincount(group, weights=hit) / counts
    return float(hit.mean()), float(per_label.mean())


def topk_key_hits(
    queries: np.ndarray,
    query_labels: np.ndarray,
    keys: np.ndarray,
    key_labels: np.ndarray,
    k: int,
    metric: str,
) -> np.ndarray:
    """Probability [Q] that a query's label is among the labels of its k nearest keys (ties drawn at random).

    With ``a`` keys strictly nearer than the k-th nearest distance and ``t`` keys tied with it, of which
    ``m`` carry the query's label, the k - a tied places are filled by a uniform draw from the t: a query
    with its label among the ``a`` is a hit, otherwise the hit probability is 1 - C(t - m, k - a) / C(t, k - a).

    Args:
        queries: [Q, D]; query_labels: int [Q]; keys: [K, D]; key_labels: int [K]; k >= 1.
        metric: ``cosine`` or ``euclidean``.

    Returns:
        float [Q] in [0, 1]; all NaN without a key.
    """
    return level_hits(queries, keys, {"": (query_labels, key_labels)}, [k], metric)["", k]


def level_hits(
    queries: np.ndarray,
    keys: np.ndarray,
    levels: dict[str, tuple[np.ndarray, np.ndarray]],
    ks: Sequence[int],
    metric: str,
) -> dict[tuple[str, int], np.ndarray]:
    """``topk_key_hits`` for every (level, k) from one distance matrix per block of queries.

    Args:
        queries: [Q, D]; keys: [K, D].
        levels: ``{level: (query labels int [Q], key labels int [K])}`` (species, genus ...).
        ks: the k values, each >= 1 (a k above K retrieves every key).
        metric: ``cosine`` or ``euclidean``.

    Returns:
        ``{(level, k): float [Q]}``.
    """
    if min(ks) < 1:
        raise ValueError(f"every k must be >= 1, got {list(ks)}")
    if not len(keys):
        return {(lvl, k): np.full(len(queries), math.nan) for lvl in levels for k in ks}
    if metric == "cosine":
        queries, keys = _unit(queries), _unit(keys)
    out = {(lvl, k): np.empty(len(queries)) for lvl in levels for k in ks}
    places = sorted({min(k, len(keys)) for k in ks})
    for start in range(0, len(queries), BLOCK):
        block = slice(start, start + BLOCK)
        dist = _distances(queries[block], keys, metric)  # [b, K]
        kths = np.partition(dist, [p - 1 for p in places], axis=1)
        own = {lvl: k_lab[None, :] == q_lab[block, None] for lvl, (q_lab, k_lab) in levels.items()}
        for k in ks:
            k_eff = min(k, len(keys))
            kth = kths[:, k_eff - 1 : k_eff]
            tol = 1e-9 * np.maximum(1.0, np.abs(kth))
            nearer = dist < kth - tol
            tied = ~nearer & (dist <= kth + tol)
            a, t = nearer.sum(axis=1), tied.sum(axis=1)
            for lvl, same in own.items():
                m = (tied & same).sum(axis=1)
                miss = np.ones(len(a))  # C(t - m, k - a) / C(t, k - a) as a product of k - a factors
                for i in range(k_eff):
                    factor = np.clip(t - m - i, 0, None) / np.maximum(t - i, 1)
                    miss *= np.where(i < k_eff - a, factor, 1.0)
                out[lvl, k][block] = np.where((nearer & same).any(axis=1), 1.0, 1.0 - miss)
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _distances(queries: np.ndarray, keys: np.ndarray, metric: str) -> np.ndarray:
    """[b, K]: 1 - cosine (rows already unit) or the squared Euclidean distance (same order as the distance)."""
    if metric == "cosine":
        return 1.0 - queries @ keys.T
    sq = (queries**2).sum(1)[:, None] - 2.0 * queries @ keys.T + (keys**2).sum(1)[None, :]
    return np.clip(sq, 0.0, None)
