"""The GPU path: bf16-mixed, channels-last training + KNN test on CUDA (skipped without a GPU)."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from tiny_forams import CLASS_NAMES, TinyDataModule, oracle_metrics

from visgen.callbacks.knn_eval import KnnEvalCallback
from visgen.lit.align import AlignModule
from visgen.lit.pretrain import MetricPretrainModule
from visgen.losses.align import CosineAlignLoss
from visgen.losses.triplet import TripletLoss
from visgen.models.backbone import EmbeddingNet

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def gpu_trainer(tmp_path: Path, callbacks: list[L.Callback], **kwargs: object) -> L.Trainer:
    return L.Trainer(
        accelerator="gpu", devices=1, precision="bf16-mixed", logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path, callbacks=callbacks,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def test_bf16_channels_last_pretrain_then_knn_test(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = EmbeddingNet(num_classes=len(CLASS_NAMES), trunk="resnet18", channels_last=True)
    module = MetricPretrainModule(
        net, TripletLoss(reciprocal=True), optimizer=functools.partial(torch.optim.SGD, lr=0.01), max_norm=1.0
    )
    dm = TinyDataModule()
    t = gpu_trainer(tmp_path, [KnnEvalCallback(k=5, out_dir=tmp_path)], max_steps=3, num_sanity_val_steps=0)
    t.fit(module, datamodule=dm)
    t.test(module, datamodule=dm)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    npz = dict(np.load(tmp_path / "embeddings.npz"))
    assert npz["query_embeddings"].dtype == np.float32 and np.isfinite(npz["query_embeddings"]).all()
    for name, value in oracle_metrics(npz, k=5).items():
        got = metrics[f"test/knn/{name}"]
        assert (got is None and math.isnan(value)) or got == pytest.approx(value, abs=1e-12), name
    assert module.net.classifier.weight.norm(dim=1).max() <= 1.0 + 1e-4


def test_bf16_alignment_keeps_the_trunk_bit_identical(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = EmbeddingNet(num_classes=len(CLASS_NAMES), trunk="resnet18", channels_last=True)
    module = AlignModule(
        net,
        torch.randn(len(CLASS_NAMES), 256),
        CosineAlignLoss(),
        optimizer=functools.partial(torch.optim.SGD, lr=1.0),
    )
    before = {k: v.clone() for k, v in net.trunk.state_dict().items()}
    gpu_trainer(tmp_path, [], max_steps=3, limit_val_batches=0).fit(module, datamodule=TinyDataModule())
    for key, value in net.trunk.state_dict().items():
        assert torch.equal(value.cpu(), before[key]), key
