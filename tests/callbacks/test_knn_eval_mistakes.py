"""KnnEvalCallback's error outcomes: genus accuracy and the tree distance of the errors in metrics.json equal a
loop over an independent KNN's predictions, with the distances the run hands in."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
from tiny_forams import CLASS_NAMES, TinyDataModule, oracle_predictions, tiny_module

from visgen.callbacks.knn_eval import KnnEvalCallback
from visgen.eval.mistakes import SpeciesDistances

# The tiny data's three classes renamed so that 0 and 1 are congeners: genus accuracy then differs from top-1.
NAMES = ["Globigerina_bulloides", "Globigerina_falconensis", "Hastigerina_pelagica"]
TREE = np.array([[0.0, 0.4, 1.8], [0.4, 0.0, 1.6], [1.8, 1.6, 0.0]])
EXTRA = (1, 4, 12)  # test-floor queries: the micro numbers skip them, as overall accuracy does


def _test(tmp_path: Path, callback: KnnEvalCallback) -> tuple[dict, dict]:
    L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, callbacks=[callback], default_root_dir=tmp_path,
    ).test(tiny_module(), datamodule=TinyDataModule(extra_test=EXTRA))  # fmt: skip
    metrics = json.loads((tmp_path / "pretrain" / "metrics.json").read_text())
    return metrics, dict(np.load(tmp_path / "pretrain" / "embeddings.npz"))


def test_metrics_json_holds_genus_accuracy_and_error_distances(tmp_path: Path) -> None:
    distances = SpeciesDistances(tuple(NAMES), TREE, "hand")
    callback = KnnEvalCallback(
        k=5, out_dir=tmp_path / "pretrain", class_names=NAMES, species_distances=distances
    )
    metrics, npz = _test(tmp_path, callback)

    preds, _ = oracle_predictions(npz, k=5)
    truth, extra = npz["query_labels"].tolist(), npz["query_extra"].tolist()
    genus = [n.split("_")[0] for n in NAMES]
    counted = [(p, y) for p, y, e in zip(preds, truth, extra, strict=True) if not e]
    errors = [(p, y) for p, y in counted if p != y]
    assert errors and any(genus[p] == genus[y] for p, y in errors), "the case needs congener errors"
    per_class = [
        np.mean([genus[p] == genus[y] for p, y in zip(preds, truth, strict=True) if y == c])
        for c in set(truth)
    ]
    expected = {
        "genus_acc": np.mean([genus[p] == genus[y] for p, y in counted]),
        "genus_per_class_acc": np.mean(per_class),
        "error_tree_dist": np.mean([TREE[p, y] for p, y in errors]),
        "error_taxonomy_dist": np.mean([1.0 if genus[p] == genus[y] else 2.0 for p, y in errors]),
        "n_errors": len(errors),
    }
    for name, value in expected.items():
        assert metrics[f"test/knn/{name}"] == pytest.approx(value, abs=1e-12), name
    assert metrics["test/knn/genus_acc"] > metrics["test/knn/acc"]
    assert metrics["error_tree"] == "hand"


def test_without_distances_genus_and_taxonomy_come_from_the_class_names(tmp_path: Path) -> None:
    metrics, _ = _test(tmp_path, KnnEvalCallback(k=5, out_dir=tmp_path / "pretrain"))
    # The tiny data's own names are three genera: every error crosses genera, and genus equals species.
    assert metrics["test/knn/genus_acc"] == pytest.approx(metrics["test/knn/acc"])
    assert metrics["test/knn/error_taxonomy_dist"] == 2.0
    assert metrics["test/knn/error_tree_dist"] is None and metrics["error_tree"] is None


def test_distances_of_other_classes_are_refused(tmp_path: Path) -> None:
    wrong = SpeciesDistances.by_taxonomy(NAMES)  # the data module's names are CLASS_NAMES
    assert NAMES != CLASS_NAMES
    with pytest.raises(RuntimeError, match="other classes"):
        _test(tmp_path, KnnEvalCallback(k=5, out_dir=tmp_path / "pretrain", species_distances=wrong))


def test_the_validation_loop_logs_the_outcomes(tmp_path: Path) -> None:
    callback = KnnEvalCallback(k=3, species_distances=SpeciesDistances.by_taxonomy(CLASS_NAMES))
    L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, callbacks=[callback], default_root_dir=tmp_path, max_epochs=1,
        limit_train_batches=1, num_sanity_val_steps=0,
    ).fit(tiny_module(), datamodule=TinyDataModule())  # fmt: skip
    logged = callback.last_metrics
    assert {"val/knn/genus_acc", "val/knn/error_tree_dist", "val/knn/n_errors"} <= set(logged)
    assert not math.isnan(logged["val/knn/genus_per_class_acc"])
