"""The shipped ``callbacks.knn_eval`` node with an approximate index: Hydra builds typed settings, the
callback's test metrics still equal a brute-force KNN on its tiny gallery, and metrics.json says which index."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tiny_forams import TinyDataModule, oracle_metrics, tiny_module

from visgen.eval.knn_settings import IndexSettings

CONF = Path(__file__).resolve().parents[2] / "conf" / "callbacks" / "default.yaml"


@pytest.mark.parametrize("kind", ["hnsw", "ivf_flat", "ivf_pq"])
def test_shipped_node_with_an_index_scores_like_brute_force(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    node = OmegaConf.load(CONF).knn_eval
    node.index = kind
    callback = instantiate(node, out_dir=str(tmp_path))
    assert isinstance(callback.index_settings, IndexSettings)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, callbacks=[callback], default_root_dir=tmp_path,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="visgen.eval.knn_index"):
        trainer.test(tiny_module(), datamodule=TinyDataModule())
    # 21 gallery vectors: HNSW's search breadth (64) covers all of them and IVF gets a single cell, so both
    # are exact here; IVF-PQ cannot train 256 centroids on 21 vectors and says it searches flat instead.
    assert ("needs >= 256 training vectors" in caplog.text) == (kind == "ivf_pq")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    npz = dict(np.load(tmp_path / "embeddings.npz"))
    for name, value in oracle_metrics(npz, k=5).items():
        got = metrics[f"test/knn/{name}"]
        assert (got is None and math.isnan(value)) or got == pytest.approx(value, abs=1e-12), name
    assert metrics["index"] == kind and metrics["index_settings"]["nprobe"] == 16
