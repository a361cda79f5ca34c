"""What the pretraining and alignment LightningModules share: evaluation steps and optimiser wiring.

Evaluation steps only embed; the KNN itself happens in ``visgen.callbacks.knn_eval`` on the gathered
outputs, so the modules stay free of evaluation logic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.nn import Parameter
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from visgen.models.backbone import EmbeddingNet

OptimizerFactory = Callable[[Iterable[Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], LRScheduler]


class EmbeddingModule(L.LightningModule):
    """Base for modules that train an ``EmbeddingNet`` and are evaluated by KNN on its embedding.

    Args:
        net: the network.
        optimizer: partial that builds the optimiser from the trainable parameters.
        scheduler: optional partial that builds an epoch-wise LR scheduler from the optimiser.
    """

    def __init__(
        self, net: EmbeddingNet, optimizer: OptimizerFactory, scheduler: SchedulerFactory | None
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """Run the network; see ``EmbeddingNet.forward``."""
        return self.net(images)

    def _embed_step(self, batch: dict[str, Tensor], dataloader_idx: int, stage: str) -> dict[str, Tensor]:
        out = self.net(batch["image"])
        if dataloader_idx == 0:
            # Softmax accuracy on the queries, a cheap second opinion next to the KNN numbers.
            correct = (out["logits"].argmax(dim=1) == batch["label"]).float().mean()
            self.log(
                f"{stage}/softmax/acc",
                correct,
                on_epoch=True,
                sync_dist=True,
                add_dataloader_idx=False,
                batch_size=batch["label"].shape[0],
            )
        # float32 before any distance: under bf16 autocast the embedding arrives in bf16.
        return {
            "embedding": out["embedding"].detach().float(),
            "label": batch["label"].detach(),
            "index": batch["index"].detach(),
        }

    def validation_step(
        self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Tensor]:
        """Embed a validation batch (dataloader 0: queries, 1: gallery); returns embedding [B,E], label, index."""
        return self._embed_step(batch, dataloader_idx, "val")

    def test_step(
        self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Tensor]:
        """Embed a test batch (dataloader 0: queries, 1: gallery); returns embedding [B,E], label, index."""
        return self._embed_step(batch, dataloader_idx, "test")

    def configure_optimizers(self) -> Any:
        """Optimiser over the trainable parameters only (frozen ones must not receive weight decay)."""
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError(f"{type(self).__name__}: every parameter is frozen; nothing to train")
        opt = self.optimizer_factory(params)
        if self.scheduler_factory is None:
            return opt
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": self.scheduler_factory(opt), "interval": "epoch"},
        }


def log_terms(module: L.LightningModule, terms: dict[str, Tensor], batch_size: int) -> None:
    """Log ``train/<name>`` for each scalar term; ``train/loss`` also on the progress bar."""
    for name, value in terms.items():
        module.log(
            f"train/{name}",
            value.detach() if isinstance(value, torch.Tensor) else value,
            on_step=True,
            on_epoch=True,
            prog_bar=name == "loss",
            batch_size=batch_size,
        )
