"""Cross-modal alignment: pull image embeddings towards their species' genetic anchors.

The pipeline builds the ``EmbeddingNet``, loads the pretraining checkpoint into it and hands it over
together with the anchors of the image classes (row c = anchor of class c). By default the trunk is
frozen (no gradients, BatchNorm in eval mode) and only the embedding head learns, as in the paper.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor, nn

from visgen.errors import UserInputError
from visgen.lit.embedding_module import EmbeddingModule, OptimizerFactory, SchedulerFactory, log_terms
from visgen.losses.align import CosineAlignLoss, cosine_matrix
from visgen.models.backbone import EmbeddingNet

log = logging.getLogger(__name__)

#: ``align.sampling`` values; the second is the authors' protocol (see ``AlignModule``).
SAMPLINGS: tuple[str, ...] = ("m_per_class", "instance_uniform_negative")


def anchor_cosine_summary(anchors: Tensor) -> dict[str, float]:
    """Summary of pairwise cosines between distinct anchors.

    Raw SGT anchors of the real species are nearly collinear (cosines 0.94–0.999), which keeps the
    margin-0.5 negative term always active; logging this at the start of alignment makes that visible.

    Args:
        anchors: [C, D] with C >= 2.

    Returns:
        ``cos_min``, ``cos_median``, ``cos_max`` over the C·(C−1)/2 pairs.
    """
    cos = cosine_matrix(anchors.double(), anchors.double()).cpu().numpy()
    pairs = cos[np.triu_indices(cos.shape[0], k=1)]
    return {
        "cos_min": float(pairs.min()),
        "cos_median": float(np.median(pairs)),
        "cos_max": float(pairs.max()),
    }


class AlignModule(EmbeddingModule):
    """Train the embedding head (optionally the classifier) with ``CosineAlignLoss``.

    Args:
        net: the pretrained network.
        anchors: [C, E] genetic anchors, row c for class c (E = the net's embedding size); a NaN row marks
            a species without DNA, which is trained as a negative only (``CosineAlignLoss``).
        loss: the alignment loss.
        optimizer: partial building the optimiser over the trainable parameters.
        scheduler: optional partial building an epoch-wise LR scheduler.
        freeze_trunk: keep the trunk bit-identical (no gradients and BatchNorm statistics fixed).
        ce_weight: if > 0 the classifier is also trained with this weight on CE; else it is frozen.
        reuse_features: cache the frozen trunk's pooled features by sample ``index`` during training and
            skip the trunk for samples seen before. Only valid when training images are NOT augmented
            (the cache would otherwise freeze one random view per image); needs ``freeze_trunk``.
        sampling: ``"m_per_class"`` (ours: every batch sample is a positive and the other-species samples
            of the batch its negatives) or ``"instance_uniform_negative"`` (the authors': a batch is B
            positives followed by their B given negatives, ``InstanceNegativeBatchSampler``).
    """

    def __init__(
        self,
        net: EmbeddingNet,
        anchors: Tensor,
        loss: CosineAlignLoss,
        *,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        freeze_trunk: bool = True,
        ce_weight: float = 0.0,
        reuse_features: bool = False,
        sampling: str = "m_per_class",
    ) -> None:
        super().__init__(net, optimizer, scheduler)
        anchors = torch.as_tensor(anchors, dtype=torch.float32)
        expected = (net.classifier.out_features, net.embedding_dim)
        if tuple(anchors.shape) != expected:
            raise UserInputError(
                f"anchors: shape {tuple(anchors.shape)} but the model has {expected[0]} classes x {expected[1]}-D "
                "embeddings; build anchors for the image classes with GeneticAnchors.for_classes"
            )
        # A NaN row is an image-only species (data.classes=all): no anchor of its own, still a negative.
        has = ~torch.isnan(anchors).any(dim=1)
        if (
            not bool(has.any())
            or not torch.isfinite(anchors[has]).all()
            or bool((anchors[has].norm(dim=1) == 0).any())
        ):
            raise UserInputError(
                "anchors: no species with DNA, or inf / all-zero rows; restrict classes to species with DNA"
            )
        if sampling not in SAMPLINGS:
            raise UserInputError(f"align.sampling={sampling}: unknown; use one of {', '.join(SAMPLINGS)}")
        if ce_weight < 0:
            raise UserInputError(f"align.ce_weight={ce_weight}: must be >= 0")
        if reuse_features and not freeze_trunk:
            raise UserInputError(
                "align.reuse_features=true needs align.freeze_trunk=true (a trained trunk's features change)"
            )
        self.save_hyperparameters(ignore=["net", "anchors", "loss", "optimizer", "scheduler"])
        self.loss = loss
        self.register_buffer("anchors", anchors.clone())
        self.net.set_trunk_frozen(freeze_trunk)
        self.net.classifier.requires_grad_(ce_weight > 0)
        # Plain attributes, not buffers: a cache is not model state and must stay out of checkpoints.
        self._feature_cache: Tensor | None = None  # [N, F], row i = features of sample index i
        self._cached: Tensor | None = None  # bool [N]
        self.trunk_batches = 0  # training batches that ran the trunk (how much the cache saved)

    def on_fit_start(self) -> None:
        """Log the anchor geometry once, before the first step."""
        if int((~torch.isnan(self.anchors).any(dim=1)).sum()) < 2:
            return
        summary = anchor_cosine_summary(self.anchors[~torch.isnan(self.anchors).any(dim=1)])
        log.info("anchor pairwise cosine: min %.3f, median %.3f, max %.3f", *summary.values())
        if self.logger is not None:
            self.logger.log_metrics({f"train/anchors/{k}": v for k, v in summary.items()}, step=0)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """One step; logs ``train/loss``, ``train/align_pos``, ``train/align_neg`` (and ``train/ce``)."""
        out = self._train_forward(batch)
        labels = batch["label"]
        if self.hparams.sampling == "instance_uniform_negative":
            half = labels.shape[0] // 2  # positives, then their negatives (InstanceNegativeBatchSampler)
            emb = out["embedding"]
            terms = self.loss.pairs(emb[:half], emb[half:], labels[:half], self.anchors)
            out, labels = {k: v[:half] for k, v in out.items()}, labels[:half]  # CE on the positives only
        else:
            terms = self.loss(out["embedding"], labels, self.anchors)
        logged = {"loss": terms["loss"], "align_pos": terms["pos"], "align_neg": terms["neg"]}
        if self.hparams.ce_weight > 0:
            ce = nn.functional.cross_entropy(out["logits"].float(), labels)
            logged["ce"] = ce
            logged["loss"] = terms["loss"] + self.hparams.ce_weight * ce
        log_terms(self, logged, batch_size=labels.shape[0])
        return logged["loss"]

    def _train_forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Network outputs for a training batch, reading trunk features from the cache when allowed."""
        index = batch["index"]
        if not self.hparams.reuse_features:
            self.trunk_batches += 1
            return self.net(batch["image"])
        if self._cached is not None and index.max() < len(self._cached) and bool(self._cached[index].all()):
            return self.net.heads(self._feature_cache[index])  # type: ignore[index]
        self.trunk_batches += 1
        with torch.no_grad():
            features = self.net(batch["image"])["features"].float()
        self._store(index, features)
        return self.net.heads(features)

    def _store(self, index: Tensor, features: Tensor) -> None:
        """Write features [B, F] into the cache rows ``index``, growing it to the largest index seen."""
        size = int(index.max()) + 1
        if self._feature_cache is None or size > len(self._feature_cache):
            old_cache, old_mask = self._feature_cache, self._cached
            grown = max(size, 2 * len(old_cache) if old_cache is not None else size)
            self._feature_cache = features.new_zeros((grown, features.shape[1]))
            self._cached = torch.zeros(grown, dtype=torch.bool, device=features.device)
            if old_cache is not None and old_mask is not None:
                self._feature_cache[: len(old_cache)] = old_cache
                self._cached[: len(old_mask)] = old_mask
        self._feature_cache[index] = features
        self._cached[index] = True  # type: ignore[index]
