"""refresh_metrics: an old cached metrics.json, re-evaluated from its embeddings.npz, equals what the callback
writes today (the callback's output is the oracle); current files are left alone; changed values are logged."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import lightning as L
import numpy as np
import pytest
from tiny_forams import BUCKETS, TinyDataModule, tiny_module

from visgen.callbacks.knn_eval import KnnEvalCallback
from visgen.eval.mistakes import MISTAKE_KEYS
from visgen.eval.stage import METRICS_VERSION
from visgen.results import annotate_metrics
from visgen.run.refresh import refresh_metrics

EXTRA = (1, 4, 12)  # test-floor queries: overall accuracy must skip them in the refresh too


def _fresh(tmp_path: Path) -> tuple[Path, dict, TinyDataModule]:
    """A stage folder as the pipeline leaves it today (callback at test + annotate_metrics)."""
    dm = TinyDataModule(extra_test=EXTRA)
    stage = tmp_path / "pretrain"
    callback = KnnEvalCallback(k=5, out_dir=stage, extra={"stage": "pretrain", "profile": "quick"})
    L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, callbacks=[callback], default_root_dir=tmp_path,
    ).test(tiny_module(), datamodule=dm)  # fmt: skip
    fresh = annotate_metrics(stage, profile="quick", stage="pretrain")
    assert fresh["metrics_version"] == METRICS_VERSION
    return stage, fresh, dm


def _make_old(stage: Path, fresh: dict, *, without_query_extra: bool = False, **tamper: float) -> None:
    """Rewrite the folder as a version-1 run left it: no ncm/*, no error outcomes, no version, no n_queries_extra."""
    outcomes = {f"test/knn/{name}" for name in MISTAKE_KEYS}
    old = {k: v for k, v in fresh.items() if not k.startswith("test/ncm/") and k not in outcomes}
    for key in ("metrics_version", "n_queries_extra", "error_tree"):
        old.pop(key)
    old.update(tamper)
    (stage / "metrics.json").write_text(json.dumps(old, indent=2, sort_keys=True))
    if without_query_extra:  # npz files from before the test floor have no query_extra
        z = dict(np.load(stage / "embeddings.npz"))
        z.pop("query_extra")
        np.savez(stage / "embeddings.npz", **z)


@pytest.mark.parametrize("without_query_extra", [False, True])
def test_refreshed_metrics_equal_a_fresh_evaluation(tmp_path: Path, without_query_extra: bool) -> None:
    stage, fresh, dm = _fresh(tmp_path)
    _make_old(stage, fresh, without_query_extra=without_query_extra)
    assert refresh_metrics(stage, buckets=BUCKETS, extra_test=dm.extra_test)
    assert json.loads((stage / "metrics.json").read_text()) == fresh


def test_a_current_file_is_left_alone(tmp_path: Path) -> None:
    stage, _, dm = _fresh(tmp_path)
    before = (stage / "metrics.json").stat().st_mtime_ns
    assert not refresh_metrics(stage, buckets=BUCKETS, extra_test=dm.extra_test)
    assert (stage / "metrics.json").stat().st_mtime_ns == before


def test_a_stored_value_the_evaluation_now_changes_is_logged_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stage, fresh, dm = _fresh(tmp_path)
    _make_old(stage, fresh, **{"test/knn/acc": fresh["test/knn/acc"] + 0.25})
    with caplog.at_level(logging.WARNING, logger="visgen.run.refresh"):
        refresh_metrics(stage, buckets=BUCKETS, extra_test=dm.extra_test)
    assert "changes 1 stored value(s) (test/knn/acc" in caplog.text
    assert json.loads((stage / "metrics.json").read_text()) == fresh
