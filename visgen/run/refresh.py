"""Bring a cached pretraining's ``metrics.json`` up to the current evaluation, from its ``embeddings.npz``.

A pretraining cached by an older visgen keeps its weights and embeddings (still valid: the cache key holds
everything they depend on) but its ``metrics.json`` lacks what the evaluation has gained since (e.g.
``test/ncm/*``), which would leave blank cells in a report mixing fresh and reused runs. The metrics are a pure
function of the stored embeddings (``visgen.eval.stage.evaluate_embeddings``), so they are recomputed here
instead of retraining or re-testing. Values the old file already held are compared with the recomputed ones:
a difference (the evaluation changed meaning) is logged and the current evaluation's value is kept.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visgen.eval.knn_settings import IndexSettings
from visgen.eval.mistakes import SpeciesDistances
from visgen.eval.stage import METRICS_VERSION, evaluate_embeddings
from visgen.results import EMBEDDINGS_NPZ, METRICS_JSON, read_embeddings, read_metrics, write_metrics

log = logging.getLogger(__name__)


def refresh_metrics(
    stage_dir: Path,
    *,
    buckets: Sequence[str] | None,
    extra_test: Sequence[bool] | None,
    distances: SpeciesDistances | None = None,
) -> bool:
    """Re-evaluate ``stage_dir/metrics.json`` from ``stage_dir/embeddings.npz`` if it predates ``METRICS_VERSION``.

    Args:
        stage_dir: a folder written by ``KnnEvalCallback`` at test (a pretraining cache entry).
        buckets: the data module's per-class shot buckets [C] (not stored in the npz).
        extra_test: the data module's test-floor flags by test-split position, used only when the npz is
            older than its ``query_extra`` array; None = no test floor.
        distances: the run's species distances (``visgen.run.outcomes``), as the callback got them; None =
            genus and taxonomy from the stored species names, no tree distance (as the callback without them).

    Returns:
        True if the file was rewritten, False if it was already current.
    """
    path = stage_dir / METRICS_JSON
    old = read_metrics(stage_dir)
    if int(old.get("metrics_version", 1)) >= METRICS_VERSION:
        return False
    z = read_embeddings(stage_dir)
    assert z is not None, f"{stage_dir}: a complete cache entry without {EMBEDDINGS_NPZ}"
    species = [str(s) for s in z["species"]]
    rare = old.get("rare_species")
    extra = _query_extra(z, extra_test)
    if distances is not None and list(distances.class_names) != species:
        raise ValueError(f"{stage_dir}: the species distances name other classes than {EMBEDDINGS_NPZ}")
    scores, _ = evaluate_embeddings(
        z["gallery_embeddings"], z["gallery_labels"], z["query_embeddings"], z["query_labels"],
        num_classes=len(species), k=int(old["k"]), metric=old["metric"],
        rare_classes=None if rare is None else [species.index(name) for name in rare],
        buckets=buckets, overall_mask=~extra, distances=distances or SpeciesDistances.names_only(species),
        index=old.get("index", "flat"),
        index_settings=IndexSettings(**old["index_settings"]) if old.get("index_settings") else None,
    )  # fmt: skip
    new = {f"test/{name}": None if math.isnan(v) else v for name, v in scores.items()}
    changed = {key: (old[key], new[key]) for key in new if key in old and not _same(old[key], new[key])}
    if changed:
        log.warning(
            "%s: the current evaluation changes %d stored value(s) (%s); keeping the current ones",
            path, len(changed), ", ".join(f"{k} {a} -> {b}" for k, (a, b) in sorted(changed.items())),
        )  # fmt: skip
    added = sorted(set(new) - set(old))
    record: dict[str, Any] = {
        **old,
        **new,
        "n_queries_extra": int(extra.sum()),
        "error_tree": distances.source if distances is not None else None,
        "metrics_version": METRICS_VERSION,
    }
    write_metrics(
        stage_dir, record
    )  # atomic, per-process temporary: DDP ranks may refresh the same entry at once
    log.info(
        "%s predates metrics version %d: re-evaluated from embeddings.npz (%d metric(s) added: %s)",
        path, METRICS_VERSION, len(added), ", ".join(added) or "none",
    )  # fmt: skip
    return True


def _query_extra(z: dict[str, np.ndarray], extra_test: Sequence[bool] | None) -> np.ndarray:
    """bool [M]: the stored test-floor flags, else the data module's by ``query_index``, else none."""
    if "query_extra" in z:
        return np.asarray(z["query_extra"], dtype=bool)
    if extra_test is None:
        return np.zeros(len(z["query_labels"]), dtype=bool)
    return np.asarray(extra_test, dtype=bool)[z["query_index"]]


def _same(a: Any, b: Any) -> bool:
    """Equal metric values (None = undefined), to float rounding."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=1e-12)
