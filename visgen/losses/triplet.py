"""Triplet (TL) and reciprocal triplet (RTL) losses with batch-hard online mining.

TL  (Schroff et al. 2015):   max(0, d(a,p) − d(a,n) + margin)
RTL (Masullo et al. 2019):   d(a,p) + 1 / d(a,n)     (no margin to tune; Karaderi et al. use 0.01·RTL + CE)

Mining is pytorch-metric-learning's ``BatchHardMiner``: for every anchor that has at least one
positive and one negative in the batch, the farthest positive and the nearest negative. The miner only
picks indices (under ``no_grad``); the distances that carry gradients are recomputed here.
"""

from __future__ import annotations

from typing import Literal

import torch
from pytorch_metric_learning.distances import CosineSimilarity, LpDistance
from pytorch_metric_learning.miners import BatchHardMiner
from torch import Tensor, nn

from visgen.errors import UserInputError

Distance = Literal["euclidean", "cosine"]

# 1/d(a,n) explodes when a negative collapses onto its anchor; the epsilon bounds the gradient.
RECIPROCAL_EPS = 1e-6


def pair_distance(x: Tensor, y: Tensor, distance: Distance) -> Tensor:
    """Row-wise distance between two aligned batches.

    Args:
        x: [N, D] float.
        y: [N, D] float.
        distance: ``"euclidean"`` (L2 norm of the difference) or ``"cosine"`` (1 − cosine similarity).

    Returns:
        [N] distances.
    """
    if distance == "euclidean":
        # vector_norm's backward is defined as 0 at a zero difference (no NaN for duplicate samples).
        return torch.linalg.vector_norm(x - y, dim=-1)
    return 1.0 - nn.functional.cosine_similarity(x, y, dim=-1)


class TripletLoss(nn.Module):
    """Batch-hard triplet loss, plain (TL) or reciprocal (RTL).

    Args:
        margin: TL margin; ignored by RTL.
        reciprocal: use RTL, d(a,p) + 1/d(a,n), instead of TL.
        distance: ``"euclidean"`` (the paper) or ``"cosine"``.
    """

    def __init__(
        self, margin: float = 0.2, reciprocal: bool = False, distance: Distance = "euclidean"
    ) -> None:
        super().__init__()
        if distance not in ("euclidean", "cosine"):
            raise UserInputError(f"loss.metric.distance={distance!r}: unknown; use 'euclidean' or 'cosine'")
        self.margin = float(margin)
        self.reciprocal = bool(reciprocal)
        self.distance: Distance = distance
        # normalize_embeddings=False: PML's LpDistance L2-normalises by default, which would mine on the
        # sphere while the loss is computed on raw Euclidean embeddings.
        dist = LpDistance(normalize_embeddings=False) if distance == "euclidean" else CosineSimilarity()
        self.miner = BatchHardMiner(distance=dist)

    def forward(self, embeddings: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Mine the hardest triplet per anchor and average the loss over mined anchors.

        Args:
            embeddings: [B, D] (any float dtype; computed in float32 so bf16 autocast is safe).
            labels: [B] integer class labels.

        Returns:
            ``loss``: scalar mean over mined anchors (0, still attached to the graph, when no anchor has
            both a positive and a negative); ``n_triplets``: scalar count of mined anchors;
            ``pos_dist`` / ``neg_dist``: mean mined distances (detached, for logging).
        """
        emb = embeddings.float()
        anchors, positives, negatives = self.miner(emb, labels)
        n = anchors.numel()
        if n == 0:
            zero = emb.sum() * 0.0
            return {
                "loss": zero,
                "n_triplets": zero.detach(),
                "pos_dist": zero.detach(),
                "neg_dist": zero.detach(),
            }
        d_ap = pair_distance(emb[anchors], emb[positives], self.distance)
        d_an = pair_distance(emb[anchors], emb[negatives], self.distance)
        if self.reciprocal:
            per_anchor = d_ap + 1.0 / (d_an + RECIPROCAL_EPS)
        else:
            per_anchor = torch.relu(d_ap - d_an + self.margin)
        return {
            "loss": per_anchor.mean(),
            "n_triplets": torch.tensor(float(n), device=emb.device),
            "pos_dist": d_ap.detach().mean(),
            "neg_dist": d_an.detach().mean(),
        }
