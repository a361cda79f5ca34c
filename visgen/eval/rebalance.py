"""Decoupled rebalancing baselines on a frozen trunk (Kang et al., ICLR 2020; Menon et al., ICLR 2021).

Pure functions on arrays: τ-normalised classifier weights, post-hoc logit adjustment, the choice of τ on
validation, class-balanced sampling, and classifier re-training (cRT) on cached trunk features. The run
stage (``visgen.run.rebalance``) extracts the features and scores every method with the same
``visgen.eval.stage.evaluate_embeddings`` (KNN, nearest class mean) as the pretraining and alignment stages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

#: ``rebalance.method`` values: the row's classifier over the frozen trunk.
METHODS: tuple[str, ...] = ("plain", "crt", "tau_norm", "logit_adjust", "ncm")


def tau_normalise(weight: np.ndarray, tau: float) -> np.ndarray:
    """τ-norm: each class's weight row divided by its L2 norm to the power τ (τ = 0: unchanged; 1: unit rows).

    Args:
        weight: [C, E] classifier weights.
        tau: exponent τ >= 0.

    Returns:
        [C, E] float64.
    """
    weight = np.asarray(weight, dtype=np.float64)
    norms = np.linalg.norm(weight, axis=1, keepdims=True)
    return weight / np.maximum(norms, 1e-12) ** tau


def class_prior(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """Training-class frequencies π_c = n_c / N; a class without training images counts as one image.

    Args:
        counts: [C] training images per class.

    Returns:
        [C] float64 summing to 1.
    """
    n = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    return n / n.sum()


def logit_adjust(logits: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
    """Post-hoc logit adjustment: logits − τ · log π (a uniform prior shifts every logit equally: no-op).

    Args:
        logits: [M, C]; prior: [C] class prior; tau: τ >= 0.

    Returns:
        [M, C] float64.
    """
    return np.asarray(logits, dtype=np.float64) - tau * np.log(np.asarray(prior, dtype=np.float64))[None, :]


def per_class_accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the classes present in ``labels`` of their accuracy (balanced accuracy)."""
    labels = np.asarray(labels)
    return float(np.mean([np.mean(pred[labels == c] == c) for c in np.unique(labels)]))


def choose_tau(
    predict: Callable[[float], np.ndarray], labels: np.ndarray, grid: Sequence[float]
) -> tuple[float, list[float]]:
    """The τ of ``grid`` whose predictions have the best per-class accuracy on ``labels`` (ties: smallest τ).

    Per-class, not overall, accuracy: on a long-tailed validation split overall accuracy would pick the τ
    that serves the common species, the opposite of what rebalancing is for.

    Args:
        predict: τ -> int [M] predictions on the selection split.
        labels: int [M] true labels of that split.
        grid: candidate τ values.

    Returns:
        ``(tau, scores)`` with the per-class accuracy of every grid value, in grid order.
    """
    if not len(grid):
        raise ValueError("choose_tau: empty grid")
    scores = [per_class_accuracy(predict(float(t)), labels) for t in grid]
    best = max(range(len(grid)), key=lambda i: (scores[i], -float(grid[i])))
    return float(grid[best]), scores


def class_balanced_indices(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` positions drawn class-first: a class uniformly among those present, then one of its images.

    Every present class has probability 1/C' per draw whatever its size (cRT's class-balanced sampling).

    Args:
        labels: int [N].
        size: number of draws.
        rng: generator.

    Returns:
        int [size] positions into ``labels``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    classes, inverse = np.unique(labels, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cls = rng.integers(0, len(classes), size=size)
    offset = np.minimum((rng.random(size) * counts[cls]).astype(np.int64), counts[cls] - 1)
    return order[starts[cls] + offset]


def crt_retrain(
    features: Tensor,
    labels: Tensor,
    head: nn.Module,
    classifier: nn.Linear,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> list[float]:
    """cRT on cached trunk features: train ``head`` and ``classifier`` with CE on class-balanced batches.

    The trunk is frozen, so its pooled features are computed once and every epoch only runs the heads; the
    same parameters the alignment stage trains (the embedding head), with class-balanced cross-entropy as
    the target instead of the genetic anchors. Adam, as in the alignment stage (its step does not depend on
    the embedding scale). An epoch is ``len(features) // batch_size`` batches.

    Args:
        features: [N, F] pooled trunk features (float32, any device).
        labels: long [N].
        head: the embedding head, [B, F] -> [B, E]; trained in place.
        classifier: Linear E -> C; trained in place.
        epochs, batch_size, lr: the schedule.
        seed: seed of the class-balanced draws.

    Returns:
        Mean training loss per epoch.
    """
    params = [*head.parameters(), *classifier.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(seed)
    steps = max(len(labels) // batch_size, 1)
    y_all = labels.cpu().numpy()
    history = []
    head.train()
    classifier.train()
    for _ in range(epochs):
        total = 0.0
        for _ in range(steps):
            idx = torch.as_tensor(class_balanced_indices(y_all, batch_size, rng), device=features.device)
            loss = nn.functional.cross_entropy(classifier(head(features[idx])), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
        history.append(total / steps)
    head.eval()
    classifier.eval()
    return history
