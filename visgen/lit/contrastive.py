"""Contrastive alignment (``align.objective=contrastive``): the image head and a DNA tower trained with InfoNCE.

Where ``AlignModule`` pulls image embeddings towards FIXED per-species anchors, this module learns the DNA side
too, as CLIBD does: every training image is paired with one 18S sequence of its species, drawn uniformly from
that species' sequences at each step, and ``ContrastiveLoss`` pulls the pair together against the batch's
other-species pairs. The trunk stays frozen and the classifier untouched, as in the cosine alignment; the
evaluation (KNN on image embeddings, in the callback) is the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from visgen.errors import UserInputError
from visgen.lit.embedding_module import EmbeddingModule, OptimizerFactory, SchedulerFactory, log_terms
from visgen.losses.contrastive import ContrastiveLoss, scale_grad, world_size
from visgen.models.backbone import EmbeddingNet
from visgen.models.dna_tower import DnaTower, KmerBank, tower_anchors


class ContrastiveAlignModule(EmbeddingModule):
    """Train the embedding head and ``tower`` jointly with ``ContrastiveLoss``.

    Args:
        net: the pretrained network.
        tower: the DNA tower (output size = the net's embedding size).
        bank: the tokenised sequences of the image classes.
        class_rows: C lists, row c = the rows of ``bank`` holding sequences of class c (each non-empty).
        loss: the contrastive loss (its temperature is trained too).
        optimizer: partial building the optimiser over the trainable parameters.
        scheduler: optional partial building an epoch-wise LR scheduler.
        freeze_trunk: keep the trunk bit-identical (no gradients and BatchNorm statistics fixed).
    """

    def __init__(
        self,
        net: EmbeddingNet,
        tower: DnaTower,
        bank: KmerBank,
        class_rows: Sequence[Sequence[int]],
        loss: ContrastiveLoss,
        *,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        freeze_trunk: bool = True,
    ) -> None:
        super().__init__(net, optimizer, scheduler)
        if len(class_rows) != net.classifier.out_features:
            raise UserInputError(
                f"class_rows: {len(class_rows)} classes but the model has {net.classifier.out_features}"
            )
        without = [c for c, rows in enumerate(class_rows) if not rows]
        if without:
            # An image without a DNA partner has no positive; the cosine objective trains such species as
            # negatives only, the contrastive one cannot pair them.
            raise UserInputError(
                f"align.objective=contrastive: {len(without)} image classes have no sequence; use data.classes=dna"
            )
        self.save_hyperparameters(
            ignore=["net", "tower", "bank", "class_rows", "loss", "optimizer", "scheduler"]
        )
        self.tower = tower
        self.bank = bank
        self.loss = loss
        self.class_rows = [list(r) for r in class_rows]
        counts = torch.tensor([len(r) for r in class_rows], dtype=torch.long)
        # Class c's sequences are flat[first[c] : first[c] + count[c]]; derived data, kept out of checkpoints.
        self.register_buffer("seq_count", counts, persistent=False)
        self.register_buffer("seq_first", torch.cumsum(counts, 0) - counts, persistent=False)
        self.register_buffer(
            "seq_flat",
            torch.tensor([r for rows in class_rows for r in rows], dtype=torch.long),
            persistent=False,
        )
        self.net.set_trunk_frozen(freeze_trunk)
        self.net.classifier.requires_grad_(False)  # the paper's alignment leaves the classifier alone too

    def partners(self, labels: Tensor) -> Tensor:
        """One sequence row of ``bank`` per label, uniform over that class's sequences; long [B]."""
        pick = (torch.rand(labels.shape, device=labels.device) * self.seq_count[labels]).long()
        return self.seq_flat[self.seq_first[labels] + pick.clamp_max(self.seq_count[labels] - 1)]

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """One step; logs ``train/loss``, ``train/image_to_dna``, ``train/dna_to_image``, ``train/logit_scale``."""
        labels = batch["label"]
        image = self.net(batch["image"])["embedding"]
        dna = self.tower.embed(self.bank, self.partners(labels))
        ranks = world_size() if self.loss.gather else 1
        terms = self.loss(scale_grad(image, ranks), scale_grad(dna, ranks), labels)
        log_terms(self, terms, batch_size=labels.shape[0])
        return terms["loss"]

    def species_anchors(self) -> Tensor:
        """[C, E] anchors of the image classes from the tower as it stands (``tower_anchors``)."""
        return tower_anchors(self.tower, self.bank, self.class_rows)
