"""Symmetric InfoNCE between image and DNA embeddings (the CLIP loss, as CLIBD aligns images to barcodes).

Row i of the image batch and row i of the DNA batch are a positive pair: the DNA is a sequence of the image's
species. With L2-normalised features u_i (image), v_j (DNA) and logit scale s = exp(t) (t learnable, s clamped
to [1, 100]; CLIP caps it at 100 to keep training stable):

    image_to_dna = mean_i −log( exp(s·u_i·v_i) / Σ_{j ∈ N(i) ∪ {i}} exp(s·u_i·v_j) )
    dna_to_image = the same with u and v swapped,     loss = (image_to_dna + dna_to_image) / 2

False negatives are masked: N(i) holds only the columns j of ANOTHER species than row i. The batches are the
pretraining's M-per-class ones (M images of each species), so every row has M − 1 same-species columns; treating
them as negatives would push an image away from its own species' DNA. Masking keeps every image of the batch
(sampling one sequence per species per batch would drop M − 1 images from each species' share of the step).
With all labels distinct the mask is empty and this is exactly CLIP's loss.

``gather=True`` computes the loss over the features of every DDP rank (the concatenated global batch), so
negatives come from all ranks. ``all_gather`` returns tensors without a gradient path; the rank's own slice is
replaced by the local tensor, so the gradient flows into the local features. Every rank then computes the same
global loss, and the gradient w.r.t. its local features is the single-process gradient w.r.t. those rows.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import Tensor, nn

from visgen.errors import UserInputError

#: CLIP's ceiling on the logit scale (a temperature of 0.01).
MAX_LOGIT_SCALE: float = 100.0


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` [B_r, ...] of every rank r in rank order; the gradient reaches this rank's slice only.

    Ranks may hold different B_r (a last, smaller batch): every rank pads to the largest before the
    ``all_gather`` (which needs equal shapes) and the padding is cut off again. Outside an initialised process
    group this returns ``x``.

    Returns:
        [Σ_r B_r, ...], rank r's rows in rank order (this rank's rows are ``x`` itself).
    """
    if world_size() == 1:
        return x
    ranks = dist.get_world_size()
    sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(ranks)]
    dist.all_gather(sizes, torch.tensor([x.shape[0]], device=x.device))
    counts = [int(n) for n in sizes]
    padded = x.detach().new_zeros((max(counts), *x.shape[1:]))
    padded[: x.shape[0]] = x.detach()
    parts = [torch.empty_like(padded) for _ in range(ranks)]
    dist.all_gather(parts, padded)
    rows = [part[:n] for part, n in zip(parts, counts, strict=True)]
    rows[dist.get_rank()] = x  # the local shard keeps its autograd history
    return torch.cat(rows, dim=0)


def world_size() -> int:
    """The number of DDP ranks (1 outside an initialised process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class ContrastiveLoss(nn.Module):
    """Symmetric InfoNCE with a learnable temperature and same-species columns masked (module docstring).

    Args:
        init_temperature: the starting temperature τ (logit scale 1/τ); CLIP starts at 0.07.
        gather: compute the loss over the features of every DDP rank.
    """

    def __init__(self, init_temperature: float = 0.07, gather: bool = True) -> None:
        super().__init__()
        if not 1.0 / MAX_LOGIT_SCALE <= init_temperature <= 1.0:
            raise UserInputError(
                f"align.contrastive.temperature={init_temperature}: must lie in [0.01, 1]; CLIP uses 0.07"
            )
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.gather = bool(gather)

    def logit_scale(self) -> Tensor:
        """exp(t), clamped to [1, 100] (the clamp lets no gradient through at the bounds, as in CLIP)."""
        return self.log_scale.clamp(0.0, math.log(MAX_LOGIT_SCALE)).exp()

    def forward(self, image: Tensor, dna: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """The loss of one (local) batch of positive pairs.

        Args:
            image: image embeddings [B, E] (any norm; cast to float32).
            dna: DNA embeddings [B, E]; row i is a sequence of the species of image i.
            labels: species of the pairs, long [B]; same-species columns are not negatives.

        Returns:
            ``loss``, ``image_to_dna``, ``dna_to_image`` (scalars, over the global batch when gathering) and
            ``logit_scale`` (detached).
        """
        if image.shape != dna.shape or image.shape[0] != labels.shape[0]:
            raise ValueError(
                f"ContrastiveLoss: image {tuple(image.shape)}, dna {tuple(dna.shape)} and labels "
                f"{tuple(labels.shape)} must pair up row by row"
            )
        u = nn.functional.normalize(image.float(), dim=1)
        v = nn.functional.normalize(dna.float(), dim=1)
        if self.gather:
            u, v, labels = gather_with_grad(u), gather_with_grad(v), gather_with_grad(labels)
        scale = self.logit_scale()
        # float32 even under bf16 autocast: at a logit scale of 100, bf16's 8-bit mantissa would shift logits by ~0.4.
        with torch.autocast(device_type=u.device.type, enabled=False):
            logits = scale * (u @ v.T)  # [N, N]: row i = image i against every DNA j
        # Same species but not the diagonal: a false negative, left out of both softmaxes.
        same = labels[:, None] == labels[None, :]
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
        target = torch.arange(len(labels), device=logits.device)
        image_to_dna = nn.functional.cross_entropy(logits, target)
        dna_to_image = nn.functional.cross_entropy(logits.T, target)  # the mask is symmetric
        return {
            "loss": (image_to_dna + dna_to_image) / 2,
            "image_to_dna": image_to_dna,
            "dna_to_image": dna_to_image,
            "logit_scale": scale.detach(),
        }


def scale_grad(x: Tensor, factor: float) -> Tensor:
    """``x`` unchanged in the forward pass; its gradient multiplied by ``factor`` in the backward pass.

    Under DDP with ``gather=True`` every rank's parameters get the global loss's gradient through their own
    rows only, and DDP then AVERAGES over the W ranks: the towers would learn at 1/W of the single-process
    gradient. Scaling the local features' gradient by W restores it (the temperature, replicated and seeing
    the whole global loss on every rank, needs no correction).
    """
    if factor == 1:
        return x
    return x * factor - x.detach() * (factor - 1)
