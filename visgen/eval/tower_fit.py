"""A DNA tower fitted with InfoNCE on cached image features of the seen species, for the GZSL ladder's ``tower`` rung.

The zero-shot use of a contrastively trained DNA encoder (CLIBD's): it learns, on the SEEN species only, to map a
sequence next to the images of its species; a held-out species' anchor is then the tower's mean over that
species' sequences, which no training step has read. The image side is a linear head on the frozen trunk's
(PCA-reduced) features, so a fit takes seconds on a CPU and is redone per GZSL cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from visgen.errors import UserInputError
from visgen.losses.contrastive import ContrastiveLoss
from visgen.models.dna_tower import DnaTower, KmerBank, tower_anchors


def fit_tower_anchors(
    features: np.ndarray,
    labels: np.ndarray,
    bank: KmerBank,
    class_rows: Sequence[Sequence[int]],
    *,
    kmer: int,
    embedding_dim: int,
    hidden: int,
    temperature: float,
    steps: int,
    lr: float,
    per_class: int,
    seed: int,
) -> np.ndarray:
    """Fit an image head and a DNA tower with ``ContrastiveLoss`` on the seen species; return every class's anchor.

    Each step draws ``per_class`` images of every seen species (with replacement) and, for each image, one
    sequence of its species; only the sequences of species in ``labels`` are ever drawn.

    Args:
        features: [N, F] image features of the seen species' training images.
        labels: [N] their classes.
        bank: the tokenised sequences (of every class, targets included).
        class_rows: C lists, row c = the rows of ``bank`` of class c.
        kmer, embedding_dim, hidden: the tower's k, output size E and width.
        temperature: the loss's starting temperature.
        steps, lr: Adam steps and learning rate.
        per_class: images per seen species in each step.
        seed: seeds the initialisation and the draws (the caller's RNG state is left as it was).

    Returns:
        float64 [C, E] anchors (``tower_anchors``; NaN rows for classes without sequences).
    """
    seen = sorted({int(c) for c in labels})
    if any(not class_rows[c] for c in seen):
        raise UserInputError("gzsl.anchors=[tower]: a seen species has no sequence; use data.classes=dna")
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tower = DnaTower(k=kmer, embedding_dim=embedding_dim, hidden=hidden)
        head = nn.Linear(x.shape[1], embedding_dim)
        loss = ContrastiveLoss(init_temperature=temperature, gather=False)
        params = [*tower.parameters(), *head.parameters(), *loss.parameters()]
        opt = torch.optim.Adam(params, lr=lr)
        images_of = [torch.nonzero(y == c).squeeze(1) for c in seen]
        rows_of = [torch.as_tensor(list(class_rows[c])) for c in seen]
        for _ in range(steps):
            pick = [ix[torch.randint(len(ix), (per_class,))] for ix in images_of]
            seq = [rows[torch.randint(len(rows), (per_class,))] for rows in rows_of]
            batch, partners = torch.cat(pick), torch.cat(seq)
            terms = loss(head(x[batch]), tower.embed(bank, partners), y[batch])
            opt.zero_grad()
            terms["loss"].backward()
            opt.step()
    return tower_anchors(tower, bank, class_rows).double().numpy()
