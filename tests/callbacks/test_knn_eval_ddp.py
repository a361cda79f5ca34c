"""Two CPU processes (DDP, padded sampler) give exactly the single-process test metrics and files."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch.distributed
from tiny_forams import SIZES, TinyDataModule, tiny_module

from visgen.callbacks.knn_eval import KnnEvalCallback


def run_test(out_dir: Path, devices: int, strategy: str) -> tuple[dict, dict[str, np.ndarray]]:
    trainer = L.Trainer(
        accelerator="cpu", devices=devices, strategy=strategy, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, default_root_dir=out_dir,
        callbacks=[KnnEvalCallback(k=5, out_dir=out_dir)],
    )  # fmt: skip
    # Test-floor flags by split position: after the gather they must still land on the right queries.
    trainer.test(tiny_module(), datamodule=TinyDataModule(extra_test=(1, 4, 12)))
    return json.loads((out_dir / "metrics.json").read_text()), dict(np.load(out_dir / "embeddings.npz"))


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_two_process_ddp_equals_single_process(tmp_path: Path, fork_safe_threads: None) -> None:
    assert SIZES["test"] % 2 == 1 and SIZES["train"] % 2 == 1  # the sampler has to pad
    single, single_npz = run_test(tmp_path / "single", 1, "auto")
    ddp, ddp_npz = run_test(tmp_path / "ddp", 2, "ddp_fork")
    assert ddp == single
    assert len(ddp_npz["query_index"]) == SIZES["test"]  # padded duplicates dropped
    assert ddp["n_queries_extra"] == 3
    for key in ("query_index", "gallery_index", "query_labels", "gallery_labels", "query_extra", "species"):
        np.testing.assert_array_equal(ddp_npz[key], single_npz[key])
    for key in ("query_embeddings", "gallery_embeddings"):
        np.testing.assert_allclose(ddp_npz[key], single_npz[key], rtol=1e-4, atol=1e-5)
