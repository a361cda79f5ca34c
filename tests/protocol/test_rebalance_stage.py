"""The rebalance stage end to end on the tiny folder: same evaluation as the other stages, one pretraining."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_tiny_image_folder
from tests.pipeline_fixtures import PIPELINE_COUNTS, brute_force_knn_acc, compose_cfg, tiny_overrides
from visgen.errors import UserInputError
from visgen.report.rows import table_values
from visgen.results import RunRecord
from visgen.run.checks import check_config
from visgen.run.pipeline import run

pytestmark = pytest.mark.slow
ROWS = ("ltr_plain", "ltr_crt", "ltr_tau_norm")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("rebalance")
    write_tiny_image_folder(base / "images", PIPELINE_COUNTS)
    for row in ROWS:
        overrides = tiny_overrides(base / "images", base / "cache", "rebalance.epochs=2")
        overrides[0] = f"+experiment={row}"
        run(compose_cfg(overrides), base / row)
    return base


def _metrics(run_dir: Path, stage: str) -> dict:
    return json.loads((run_dir / stage / "metrics.json").read_text())


def test_rows_share_ltrs_pretraining_and_record_their_method(runs: Path) -> None:
    records = {row: json.loads((runs / row / "run.json").read_text()) for row in ROWS}
    assert [records[r]["stages"]["pretrain"]["reused"] for r in ROWS] == [False, True, True]
    assert {r: records[r]["stages"]["rebalance"]["method"] for r in ROWS} == {
        "ltr_plain": "plain", "ltr_crt": "crt", "ltr_tau_norm": "tau_norm"}  # fmt: skip
    assert records["ltr_tau_norm"]["stages"]["rebalance"]["tau"] in {
        0.0,
        0.25,
        0.5,
        0.75,
        1.0,
        1.25,
        1.5,
        1.75,
        2.0,
    }
    assert len(records["ltr_crt"]["stages"]["rebalance"]["train_loss"]) == 2


def test_an_unchanged_embedding_scores_exactly_as_the_pretraining_did(runs: Path) -> None:
    # plain and tau_norm leave the embedding alone: the stage's own feature pass must reproduce the callback.
    pre = _metrics(runs / "ltr_plain", "pretrain")
    for row in ("ltr_plain", "ltr_tau_norm"):
        post = _metrics(runs / row, "rebalance")
        for key in ("test/knn/acc", "test/knn/per_class_acc", "test/knn/rare_acc", "test/ncm/per_class_acc"):
            assert post[key] == pytest.approx(pre[key], abs=1e-6), (row, key)


def test_crt_metrics_equal_an_independent_knn_and_the_report_reads_the_classifier(runs: Path) -> None:
    metrics = _metrics(runs / "ltr_crt", "rebalance")
    with np.load(runs / "ltr_crt" / "rebalance" / "embeddings.npz") as npz:
        acc, per_class = brute_force_knn_acc(dict(npz))
    assert metrics["test/knn/acc"] == pytest.approx(acc, abs=1e-9)
    assert metrics["test/knn/per_class_acc"] == pytest.approx(per_class, abs=1e-9)
    record = RunRecord.read(runs / "ltr_crt")
    assert record.stage == "rebalance" and record.status == "ok"
    assert table_values(record)["clf_rare_acc"] == metrics["test/clf/rare_acc"]


def test_rebalance_without_a_pretraining_in_the_run_is_refused(tmp_path: Path) -> None:
    overrides = tiny_overrides(tmp_path, tmp_path / "cache", "stages=[align,rebalance]")
    overrides[0] = "+experiment=ltr_crt"
    with pytest.raises(UserInputError, match=r"use stages=\[pretrain, rebalance\]"):
        check_config(compose_cfg(overrides))
