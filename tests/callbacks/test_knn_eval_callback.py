"""KnnEvalCallback in one process: files equal an independent KNN; val metric drives checkpointing."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from tiny_forams import CLASS_NAMES, SIZES, TinyDataModule, oracle_metrics, tiny_module

from visgen.callbacks.knn_eval import KnnEvalCallback, unique_by_index


def trainer(callbacks: list[L.Callback], tmp_path: Path, **kwargs: object) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=callbacks, default_root_dir=tmp_path, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


# Test-floor extras: without them, and with three flagged queries (overall accuracy must skip them).
@pytest.mark.parametrize("extra", [(), (1, 4, 12)])
def test_test_files_equal_an_independent_knn(tmp_path: Path, extra: tuple[int, ...]) -> None:
    dm = TinyDataModule(extra_test=extra)
    module = tiny_module()
    callback = KnnEvalCallback(
        k=5, out_dir=tmp_path / "pretrain", extra={"stage": "pretrain", "profile": "quick"}
    )
    trainer([callback], tmp_path, enable_checkpointing=False).test(module, datamodule=dm)

    metrics = json.loads((tmp_path / "pretrain" / "metrics.json").read_text())
    npz = dict(np.load(tmp_path / "pretrain" / "embeddings.npz"))
    assert npz["query_embeddings"].shape == (SIZES["test"], 256)
    assert npz["gallery_embeddings"].shape == (SIZES["train"], 256)
    assert list(npz["species"]) == CLASS_NAMES
    # The stored embeddings are the model's, in index order.
    with torch.no_grad():
        direct = module.eval()(dm.splits["test"].images)["embedding"].numpy()
    np.testing.assert_allclose(npz["query_embeddings"], direct, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(npz["query_labels"], dm.splits["test"].labels.numpy())

    np.testing.assert_array_equal(npz["query_extra"], dm.extra_test)
    assert metrics["n_queries_extra"] == len(extra)
    expected = oracle_metrics(npz, k=5)
    if extra:  # the flags must matter for this data, or the case would not test the mask
        assert (
            expected["acc"]
            != oracle_metrics({**npz, "query_extra": np.zeros(SIZES["test"], bool)}, k=5)["acc"]
        )
    for name, value in expected.items():
        got = metrics[f"test/knn/{name}"]
        assert (got is None and math.isnan(value)) or got == pytest.approx(value, abs=1e-12), name
    ncm = oracle_metrics(npz, k=5, classifier="ncm")
    assert set(ncm) == {"acc", "per_class_acc", "rare_acc", "many_acc", "medium_acc", "few_acc"}
    for name, value in ncm.items():
        got = metrics[f"test/ncm/{name}"]
        assert (got is None and math.isnan(value)) or got == pytest.approx(value, abs=1e-12), name
    assert metrics["rare_species"] == [CLASS_NAMES[1], CLASS_NAMES[2]]
    assert metrics["stage"] == "pretrain" and metrics["profile"] == "quick"
    assert callback.last_metrics["test/knn/acc"] == pytest.approx(expected["acc"])

    with (tmp_path / "pretrain" / "per_species.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["species"] for r in rows] == CLASS_NAMES
    assert [int(r["n_train"]) for r in rows] == list(dm.train_counts)
    assert sum(int(r["n_test"]) for r in rows) == SIZES["test"]


def test_validation_metric_drives_model_checkpoint(tmp_path: Path) -> None:
    callback = KnnEvalCallback(k=3)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/knn/acc", mode="max", save_last=True)
    t = trainer([callback, ckpt], tmp_path, max_epochs=1, limit_train_batches=2, num_sanity_val_steps=1)
    t.fit(tiny_module(), datamodule=TinyDataModule())
    assert ckpt.best_model_score is not None
    assert float(ckpt.best_model_score) == pytest.approx(callback.last_metrics["val/knn/acc"])
    assert float(t.callback_metrics["val/knn/per_class_acc"]) == pytest.approx(
        callback.last_metrics["val/knn/per_class_acc"]
    )
    assert Path(ckpt.best_model_path).is_file() and (tmp_path / "ckpt" / "last.ckpt").is_file()


def test_unique_by_index_drops_padding_and_sorts() -> None:
    emb = np.arange(10, dtype=np.float32).reshape(5, 2)
    emb_u, lab_u, idx_u = unique_by_index(emb, np.array([7, 8, 9, 7, 8]), np.array([2, 0, 1, 2, 0]))
    np.testing.assert_array_equal(idx_u, [0, 1, 2])
    np.testing.assert_array_equal(lab_u, [8, 9, 7])
    np.testing.assert_array_equal(emb_u, [[2, 3], [4, 5], [0, 1]])
