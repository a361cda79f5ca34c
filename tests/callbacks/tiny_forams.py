"""Test helpers for the KNN callback: a tiny dict-batch DataModule and an independent KNN oracle.

Not a test module (no ``test_`` prefix); pytest puts this folder on ``sys.path``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from visgen.lit.pretrain import MetricPretrainModule
from visgen.losses.triplet import TripletLoss
from visgen.models.backbone import EmbeddingNet

CLASS_NAMES = ["Globigerina_bulloides", "Orbulina_universa", "Hastigerina_pelagica"]
RARE = [1, 2]
BUCKETS = ["many", "medium", "few"]
# Odd split sizes, so a 2-process DistributedSampler must pad with a duplicate.
SIZES = {"train": 21, "val": 9, "test": 13}


class DictImages(Dataset):
    """32-px images whose mean pattern depends on the class, so KNN accuracy is not trivial."""

    def __init__(self, n: int, seed: int) -> None:
        patterns = torch.randn(len(CLASS_NAMES), 3, 32, 32, generator=torch.Generator().manual_seed(123))
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, len(CLASS_NAMES), (n,), generator=g)
        self.images = patterns[self.labels] + 1.5 * torch.randn(n, 3, 32, 32, generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "label": self.labels[i], "index": torch.tensor(i)}


class TinyDataModule(L.LightningDataModule):
    """Train / val / test splits with the attributes the real ForamImageDataModule exposes."""

    def __init__(self, batch_size: int = 4, extra_test: Sequence[int] = ()) -> None:
        """``extra_test``: positions in the test split flagged as ForamSim test-floor extras."""
        super().__init__()
        self.batch_size = batch_size
        self.splits = {name: DictImages(n, seed) for seed, (name, n) in enumerate(SIZES.items())}
        self.class_names = list(CLASS_NAMES)
        self.rare_classes = list(RARE)
        self.shot_buckets = list(BUCKETS)
        self.train_counts = np.bincount(self.splits["train"].labels.numpy(), minlength=len(CLASS_NAMES))
        self.extra_test = np.zeros(SIZES["test"], dtype=bool)
        self.extra_test[list(extra_test)] = True

    def _loader(self, split: str) -> DataLoader:
        return DataLoader(self.splits[split], batch_size=self.batch_size, shuffle=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader("val"), self._loader("train")]

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader("test"), self._loader("train")]


def tiny_module(seed: int = 0) -> MetricPretrainModule:
    """A resnet18 pretraining module with deterministic initial weights."""
    torch.manual_seed(seed)
    net = EmbeddingNet(num_classes=len(CLASS_NAMES), trunk="resnet18")
    return MetricPretrainModule(
        net, TripletLoss(reciprocal=True), optimizer=functools.partial(torch.optim.SGD, lr=0.01)
    )


def oracle_predictions(
    npz: dict[str, np.ndarray], k: int, classifier: str = "knn"
) -> tuple[list[int], list[list[int]]]:
    """Each query's predicted class and its k nearest gallery labels, by brute force (Euclidean; the vote's tie
    goes to the class whose member is nearest; ``classifier="ncm"``: the class with the nearest gallery mean)."""
    g, gl = npz["gallery_embeddings"].astype(np.float64), npz["gallery_labels"]
    q = npz["query_embeddings"].astype(np.float64)
    means = {int(c): g[gl == c].mean(axis=0) for c in sorted(set(gl.tolist()))}
    preds, votes_of = [], []
    for x in q:
        d = np.sqrt(((g - x) ** 2).sum(axis=1))
        votes = [int(gl[j]) for j in sorted(range(len(g)), key=lambda j: (d[j], j))[:k]]
        counts = Counter(votes)
        pred = next(v for v in votes if counts[v] == max(counts.values()))
        if classifier == "ncm":
            pred = min(means, key=lambda c: (float(((means[c] - x) ** 2).sum()), c))
        preds.append(pred)
        votes_of.append(votes)
    return preds, votes_of


def oracle_metrics(npz: dict[str, np.ndarray], k: int, classifier: str = "knn") -> dict[str, float]:
    """KNN (or nearest-class-mean) metrics from embeddings.npz by brute force and loops, sharing no code with
    visgen.eval.

    Overall and top-k accuracy skip the queries flagged in ``query_extra`` (ForamSim's test floor);
    the class-level accuracies count every query. ``classifier="ncm"``: each query takes the class whose
    gallery mean is nearest (Euclidean); no top-k.
    """
    ql = npz["query_labels"]
    extra = npz.get("query_extra", np.zeros(len(ql), dtype=bool))
    preds, votes_of = oracle_predictions(npz, k, classifier)
    correct = [pred == y for pred, y in zip(preds, ql, strict=True)]
    in_top = [int(y) in votes for votes, y in zip(votes_of, ql, strict=True)]
    per_class = {
        c: float(np.mean([ok for ok, y in zip(correct, ql, strict=True) if y == c])) for c in set(ql.tolist())
    }
    bucket = {b: [per_class[c] for c in per_class if BUCKETS[c] == b] for b in ("many", "medium", "few")}
    return {
        "acc": float(np.mean([ok for ok, e in zip(correct, extra, strict=True) if not e])),
        "per_class_acc": float(np.mean(list(per_class.values()))),
        "rare_acc": float(np.mean([per_class[c] for c in RARE if c in per_class])),
        **{f"{b}_acc": float(np.mean(v)) if v else float("nan") for b, v in bucket.items()},
        **(
            {f"top{k}_acc": float(np.mean([t for t, e in zip(in_top, extra, strict=True) if not e]))}
            if classifier == "knn"
            else {}
        ),
    }
