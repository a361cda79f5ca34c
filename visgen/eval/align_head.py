"""Refit the alignment head on cached trunk features: the aligned space of the GZSL evaluation.

The alignment stage trains a linear head (trunk features -> anchor space) with the paper's cosine loss on a
frozen trunk. With the trunk frozen, its features can be computed once and the head refitted for any anchor
set in about a second on CPU — which is what the anchor ladder and the permutation null need. The head
starts from the least-squares map onto the unit anchors (so few steps suffice) and then follows the same
loss as ``AlignModule`` (``CosineAlignLoss``, computed per class) with Adam, full batch.

``fit_align_heads`` fits many anchor sets on the same images at once (the permutation null's 100 relabellings):
one factorisation for every least-squares start, and the Adam steps as batched matrix products where that pays
(``STEP_ELEMENTS``). Each head's loss depends on its own parameters only and Adam is elementwise, so a head fitted
in a batch is the head fitted alone up to float rounding (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from visgen.losses.align import cosine_matrix

#: Elements of one batched step's [P, N, A] activations. Batching pays while a fit is dominated by per-step
#: overhead and stops paying once it is compute-bound (measured on the 2-core VM, one thread, 2026-12-03, 50
#: heads of 64-d features for 448 images: 256-d anchors 19.7 s alone, 5.8 s four at a time, 8.4 s 25 at a time;
#: 1024-d anchors 27.7 s alone, 49.8 s four at a time). ~0.5 M elements holds four 256-d heads and one 1024-d.
STEP_ELEMENTS = 500_000


@dataclass
class AlignHead:
    """``embed(x) = unit((x - mean) / std @ weight + bias)``: features [N, F] -> unit vectors [N, A]."""

    mean: np.ndarray  # [F]
    std: np.ndarray  # [F]
    weight: np.ndarray  # [F, A]
    bias: np.ndarray  # [A]

    def embed(self, features: np.ndarray) -> np.ndarray:
        """Unit-length aligned embeddings [N, A] of trunk features [N, F]."""
        z = (features - self.mean) / self.std @ self.weight + self.bias
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def fit_align_head(
    features: np.ndarray,
    labels: np.ndarray,
    anchors: np.ndarray,
    *,
    steps: int,
    lr: float,
    margin: float,
    seed: int,
) -> AlignHead:
    """Fit the head so each image's embedding points at its species' anchor (cosine loss with margin).

    Args:
        features: [N, F] trunk features of the training images.
        labels: int [N], rows of ``anchors``.
        anchors: [C, A] class anchors (after the same preprocessing as the alignment stage).
        steps: full-batch Adam steps after the least-squares start.
        lr: Adam learning rate.
        margin: the loss's negative margin (``align.margin``).
        seed: torch seed of the fit (the fit draws nothing random; seeded so it stays reproducible).

    Returns:
        The fitted ``AlignHead``.
    """
    return fit_align_heads(features, labels, anchors[None], steps=steps, lr=lr, margin=margin, seed=seed)[0]


def fit_align_heads(
    features: np.ndarray,
    labels: np.ndarray,
    anchor_sets: np.ndarray,
    *,
    steps: int,
    lr: float,
    margin: float,
    seed: int,
) -> list[AlignHead]:
    """``fit_align_head`` for each of P anchor sets [P, C, A] on the same images, a few at a time.

    As many heads per batched step as keep its activations within ``STEP_ELEMENTS`` (at least one).

    Returns:
        P fitted heads, in the order of ``anchor_sets``.
    """
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-6
    x = (features - mean) / std
    units = anchor_sets / np.maximum(np.linalg.norm(anchor_sets, axis=2, keepdims=True), 1e-12)
    x1 = np.hstack([x, np.ones((len(x), 1))])
    ridge = 1e-2 * len(x) * np.eye(x1.shape[1])
    p, _, a = units.shape
    targets = (x1.T @ units[:, labels]).transpose(1, 0, 2).reshape(x1.shape[1], p * a)  # [F+1, P*A]
    # Least squares onto the unit anchors, one factorisation for every anchor set.
    start = np.linalg.solve(x1.T @ x1 + ridge, targets).reshape(x1.shape[1], p, a).transpose(1, 0, 2)
    threads = torch.get_num_threads()
    # One thread: these matrices are small, and on a shared 2-core machine two spinning OpenMP threads made a
    # 50-step fit 6x slower (measured 7.0 s vs 1.1 s at load ~5).
    torch.set_num_threads(1)
    heads: list[AlignHead] = []
    try:
        torch.manual_seed(seed)
        xf = torch.as_tensor(x, dtype=torch.float32)
        y = torch.as_tensor(labels, dtype=torch.long)
        chunk = max(1, STEP_ELEMENTS // (len(x) * a))
        for lo in range(0, p, chunk):
            w = torch.tensor(start[lo : lo + chunk, :-1], dtype=torch.float32, requires_grad=True)
            b = torch.tensor(start[lo : lo + chunk, -1:], dtype=torch.float32, requires_grad=True)
            anchors_t = torch.as_tensor(anchor_sets[lo : lo + chunk], dtype=torch.float32)
            opt = torch.optim.Adam([w, b], lr=lr)
            for _ in range(steps):
                opt.zero_grad()
                # Summed over heads: each head's gradient is its own loss's.
                class_align_loss(xf @ w + b, y, anchors_t, margin).sum().backward()
                opt.step()
            w_np, b_np = w.detach().double().numpy(), b.detach().double().numpy()
            heads.extend(AlignHead(mean, std, w_np[i], b_np[i, 0]) for i in range(len(w_np)))
    finally:
        torch.set_num_threads(threads)
    return heads


def class_align_loss(embeddings: Tensor, labels: Tensor, anchors: Tensor, margin: float) -> Tensor:
    """``CosineAlignLoss(margin, negatives="all")`` over one batch, computed per class instead of per pair.

    cos(g_{y_i}, f_j) depends on i only through y_i, so the [B, B] cosine matrix collapses to [C, B]: for a
    full batch of ~450 images and 28 species that is 16x less work, with the same value (tested).

    Args:
        embeddings: [B, A] or [P, B, A] (P heads' embeddings of the same images); labels: long [B] rows of
            ``anchors``; anchors: [C, A] or [P, C, A].

    Returns:
        The loss ``pos + neg``: a scalar, or [P] for batched inputs.
    """
    cos = cosine_matrix(anchors, embeddings)  # [..., C, B]
    pos = (1.0 - cos[..., labels, torch.arange(len(labels))]).mean(-1)
    hinge = torch.relu(cos - margin)
    onehot = torch.nn.functional.one_hot(labels, anchors.shape[-2]).to(hinge.dtype)  # [B, C]
    n_class = onehot.sum(0)  # [C]
    own = (hinge * onehot.T).sum(-1)  # [..., C]: hinge of class c's anchor over its own images
    others = len(labels) - n_class
    per_class = (hinge.sum(-1) - own) / others.clamp_min(1)
    has_neg = others[labels] > 0
    if not bool(has_neg.any()):
        return embeddings.sum((-1, -2)) * 0.0
    return pos + per_class[..., labels][..., has_neg].mean(-1)
