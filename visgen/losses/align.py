"""Cosine alignment of image embeddings to genetic anchors (Karaderi et al., Eq. 1).

    L = (1 − cos(g_y, f(x⁺))) + max(0, cos(g_y, f(x⁻)) − m)

g_y is the genetic anchor of species y, x⁺ an image of y and x⁻ an image of another species.

How x⁻ is picked within a batch (the paper does not say): every sample i is an x⁺ for its own anchor
g_{y_i}; its negatives are ALL batch samples j with y_j ≠ y_i. With ``negatives="all"`` (default) the
hinge is averaged over those j — each is a valid x⁻ of the paper's formula, so this is the batch
estimate of the expected loss over a random x⁻ and uses every pair. ``negatives="hardest"`` takes the
j with the largest cos(g_{y_i}, f(x_j)), the batch-hard analogue of the triplet mining. Samples without
any other-species sample in the batch contribute only their positive term.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from visgen.errors import UserInputError


def cosine_matrix(x: Tensor, y: Tensor, eps: float = 1e-8) -> Tensor:
    """Pairwise cosine similarity.

    Args:
        x: [..., N, D].
        y: [..., M, D] (leading batch dimensions broadcast).
        eps: guards zero vectors.

    Returns:
        [..., N, M] cosines.
    """
    xn = x / x.norm(dim=-1, keepdim=True).clamp_min(eps)
    yn = y / y.norm(dim=-1, keepdim=True).clamp_min(eps)
    return xn @ yn.transpose(-1, -2)


class CosineAlignLoss(nn.Module):
    """The paper's alignment loss; see the module docstring for the choice of negatives.

    Args:
        margin: m; negatives with cos(g_y, f(x⁻)) below m cost nothing (0.5 in the paper).
        negatives: ``"all"`` (mean hinge over every other-species sample) or ``"hardest"``.
    """

    def __init__(self, margin: float = 0.5, negatives: Literal["all", "hardest"] = "all") -> None:
        super().__init__()
        if negatives not in ("all", "hardest"):
            raise UserInputError(f"loss.negatives={negatives!r}: unknown; use 'all' or 'hardest'")
        self.margin = float(margin)
        self.negatives = negatives

    def forward(self, embeddings: Tensor, labels: Tensor, anchors: Tensor) -> dict[str, Tensor]:
        """Compute the alignment loss for one batch.

        Args:
            embeddings: image embeddings f(x), [B, D] (cast to float32).
            labels: species indices y, long [B], indexing rows of ``anchors``.
            anchors: genetic anchors g, [C, D]; NaN rows (species without DNA) give no positive term.

        Returns:
            ``loss`` = ``pos`` + ``neg`` (scalars). ``pos``: mean over the batch of 1 − cos(g_{y_i}, f_i);
            ``neg``: mean, over samples with at least one negative, of their per-sample hinge (0 if none).
        """
        emb = embeddings.float()
        g = anchors.float()[labels]  # [B, D] anchor of each sample's own species
        # A species without DNA has a NaN anchor: its samples are no positives, but stay negatives for the rest.
        own = ~torch.isnan(g).any(dim=1)
        if not bool(own.all()):
            g, pos_labels, rows = g[own], labels[own], torch.nonzero(own).squeeze(1)
        else:
            pos_labels, rows = labels, torch.arange(len(labels), device=labels.device)
        cos = cosine_matrix(g, emb)  # [P, B]: cos(g_{y_i}, f_j) for the P samples with an anchor
        if cos.shape[0] == 0:
            zero = emb.sum() * 0.0
            return {"loss": zero, "pos": zero, "neg": zero}
        pos = (1.0 - cos[torch.arange(len(rows), device=cos.device), rows]).mean()
        is_neg = pos_labels[:, None] != labels[None, :]  # [P, B]
        hinge = torch.relu(cos - self.margin)
        has_neg = is_neg.any(dim=1)
        if self.negatives == "all":
            per_sample = (hinge * is_neg).sum(dim=1) / is_neg.sum(dim=1).clamp_min(1)
        else:
            # Masked max over negatives; hinge is monotone in cos, so the hardest hinge is the max hinge.
            per_sample = hinge.masked_fill(~is_neg, 0.0).amax(dim=1)
        neg = per_sample[has_neg].mean() if bool(has_neg.any()) else emb.sum() * 0.0
        return {"loss": pos + neg, "pos": pos, "neg": neg}

    def pairs(
        self, positives: Tensor, negatives: Tensor, labels: Tensor, anchors: Tensor
    ) -> dict[str, Tensor]:
        """Eq. 1 with one given negative per positive (``align.sampling=instance_uniform_negative``).

        Args:
            positives: f(x⁺), [B, D]; negatives: f(x⁻_i) of another species than ``labels[i]``, [B, D].
            labels: species y_i of the positives, long [B].
            anchors: genetic anchors g, [C, D].

        Returns:
            ``loss`` = ``pos`` + ``neg``: means over i of 1 − cos(g_{y_i}, f(x⁺_i)) and of
            max(0, cos(g_{y_i}, f(x⁻_i)) − m).
        """
        if positives.shape != negatives.shape or positives.shape[0] != labels.shape[0]:
            raise ValueError(
                f"pairs: positives {tuple(positives.shape)}, negatives {tuple(negatives.shape)} and "
                f"labels {tuple(labels.shape)} must pair up row by row"
            )
        g = anchors.float()[labels]
        cos_pos = nn.functional.cosine_similarity(g, positives.float(), dim=1, eps=1e-8)
        cos_neg = nn.functional.cosine_similarity(g, negatives.float(), dim=1, eps=1e-8)
        pos = (1.0 - cos_pos).mean()
        neg = torch.relu(cos_neg - self.margin).mean()
        return {"loss": pos + neg, "pos": pos, "neg": neg}
