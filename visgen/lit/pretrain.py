"""Metric pretraining: (R)TL + softmax cross-entropy, with long-tail weight balancing support.

LTR weight balancing (Alshammari et al., CVPR 2022) runs as two fits of this module, wired by the
pipeline: stage 1 is ordinary training with weight decay in the optimiser partial; stage 2 sets
``freeze_trunk=True, class_balanced=True, max_norm=<threshold>``, i.e. retrains the heads with a
class-balanced CE and projects each class's classifier row back into a norm ball after every step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from visgen.errors import UserInputError
from visgen.lit.embedding_module import EmbeddingModule, OptimizerFactory, SchedulerFactory, log_terms
from visgen.models.backbone import EmbeddingNet

log = logging.getLogger(__name__)


def class_balanced_weights(counts: Sequence[int] | np.ndarray) -> Tensor:
    """CE class weights ∝ 1/n_c, normalised to mean 1 over classes that have training images.

    Mean 1 keeps the loss on the scale of unweighted CE, so ``ce_weight`` means the same in both stages.
    Classes with no training image get weight 0 (they never occur as a label).

    Args:
        counts: [C] training images per class.

    Returns:
        float32 [C].
    """
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 1 or (n < 0).any() or not (n > 0).any():
        raise UserInputError(
            f"class_counts={list(n)}: need one non-negative count per class, at least one > 0"
        )
    inv = np.where(n > 0, 1.0 / np.maximum(n, 1.0), 0.0)
    inv *= (n > 0).sum() / inv.sum()
    return torch.tensor(inv, dtype=torch.float32)


@torch.no_grad()
def apply_max_norm_(weight: Tensor, threshold: float) -> None:
    """MaxNorm projection in place: rescale rows whose L2 norm exceeds ``threshold`` to exactly it.

    Args:
        weight: [C, E] classifier weight (one row per class).
        threshold: maximum row norm.
    """
    norms = weight.norm(dim=1, keepdim=True)
    weight.mul_((threshold / norms.clamp_min(1e-12)).clamp(max=1.0))


class MetricPretrainModule(EmbeddingModule):
    """Train an ``EmbeddingNet`` with metric_weight·metric + ce_weight·CE.

    Args:
        net: the network (its classifier is the softmax head).
        metric_loss: a ``TripletLoss`` (TL or RTL) or None for softmax-only.
        optimizer: partial building the optimiser (weight decay for LTR stage 1 lives here).
        scheduler: optional partial building an epoch-wise LR scheduler.
        metric_weight: weight of the metric term (paper: 0.01 with RTL; 0 for softmax-only).
        ce_weight: weight of the cross-entropy term (paper: 1; 0 for TL-/RTL-only rows).
        freeze_trunk: keep the trunk fixed (gradients off, BatchNorm in eval mode) — LTR stage 2.
        class_balanced: weight CE by ``class_balanced_weights(class_counts)`` — LTR stage 2.
        class_counts: [C] training images per class; if None and ``class_balanced``, read from
            ``trainer.datamodule.train_counts`` at setup.
        max_norm: if set, MaxNorm threshold on classifier rows, applied after every optimiser step.
    """

    def __init__(
        self,
        net: EmbeddingNet,
        metric_loss: nn.Module | None = None,
        *,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        metric_weight: float = 0.01,
        ce_weight: float = 1.0,
        freeze_trunk: bool = False,
        class_balanced: bool = False,
        class_counts: Sequence[int] | None = None,
        max_norm: float | None = None,
    ) -> None:
        super().__init__(net, optimizer, scheduler)
        if metric_weight < 0 or ce_weight < 0 or metric_weight + ce_weight == 0:
            raise UserInputError(
                f"loss: metric_weight={metric_weight}, ce_weight={ce_weight}; both >= 0 and not both 0"
            )
        if metric_weight > 0 and metric_loss is None:
            raise UserInputError(
                f"loss: metric_weight={metric_weight} but no metric loss; set loss.metric or metric_weight=0"
            )
        if max_norm is not None and max_norm <= 0:
            raise UserInputError(f"ltr.max_norm={max_norm}: must be > 0 or null")
        if class_counts is not None:
            class_counts = [int(c) for c in class_counts]
        self.save_hyperparameters(ignore=["net", "metric_loss", "optimizer", "scheduler"])
        self.metric_loss = metric_loss
        self.net.set_trunk_frozen(freeze_trunk)
        # Derived from class_counts (kept in hparams), so not persisted: reloading recomputes it.
        self.register_buffer("ce_class_weights", None, persistent=False)
        if class_balanced and class_counts is not None:
            self.ce_class_weights = class_balanced_weights(class_counts)

    def setup(self, stage: str) -> None:
        """Fetch class counts from the datamodule when class-balanced CE needs them and none were given."""
        if not self.hparams.class_balanced or self.ce_class_weights is not None:
            return
        counts = getattr(getattr(self.trainer, "datamodule", None), "train_counts", None)
        if counts is None:
            raise UserInputError(
                "ltr.class_balanced=true needs class counts; pass class_counts or a datamodule with train_counts"
            )
        self.hparams["class_counts"] = [int(c) for c in counts]
        self.ce_class_weights = class_balanced_weights(counts).to(self.device)

    def loss_terms(self, out: dict[str, Tensor], labels: Tensor) -> dict[str, Tensor]:
        """Named loss terms of one batch.

        Args:
            out: ``EmbeddingNet`` outputs (``embedding`` [B,E], ``logits`` [B,C]).
            labels: long [B].

        Returns:
            ``loss`` (the weighted total) plus ``ce`` and/or ``metric`` (those with non-zero weight) and
            ``n_triplets`` when the metric loss reports it.
        """
        terms: dict[str, Tensor] = {}
        total = out["embedding"].new_zeros((), dtype=torch.float32)
        if self.hparams.ce_weight > 0:
            weight = self.ce_class_weights
            terms["ce"] = nn.functional.cross_entropy(out["logits"].float(), labels, weight=weight)
            total = total + self.hparams.ce_weight * terms["ce"]
        if self.hparams.metric_weight > 0 and self.metric_loss is not None:
            metric = self.metric_loss(out["embedding"], labels)
            terms["metric"] = metric["loss"]
            if "n_triplets" in metric:
                terms["n_triplets"] = metric["n_triplets"]
            total = total + self.hparams.metric_weight * terms["metric"]
        terms["loss"] = total
        return terms

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """One optimisation step on a dict batch; logs ``train/loss``, ``train/ce``, ``train/metric``."""
        terms = self.loss_terms(self.net(batch["image"]), batch["label"])
        log_terms(self, terms, batch_size=batch["label"].shape[0])
        return terms["loss"]

    def optimizer_step(
        self, epoch: int, batch_idx: int, optimizer: Optimizer, optimizer_closure: Any = None
    ) -> None:
        """Optimiser step followed by the MaxNorm projection (projected gradient descent)."""
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        if self.hparams.max_norm is not None:
            apply_max_norm_(self.net.classifier.weight, float(self.hparams.max_norm))
