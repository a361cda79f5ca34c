"""Helpers for the pipeline tests: the real config shrunk to seconds, and a callback that 'crashes'."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

CONF = Path(__file__).resolve().parents[1] / "conf"

#: A small long tail over six species that all have 18S data (so alignment anchors exist).
PIPELINE_COUNTS: dict[str, int] = {
    "Globigerinoides_ruber": 20,
    "Globigerina_bulloides": 16,
    "Orbulina_universa": 12,
    "Globorotalia_menardii": 10,
    "Hastigerina_pelagica": 8,
    "Neogloboquadrina_dutertrei": 6,
}


def tiny_overrides(data_root: Path, cache_dir: Path, *extra: str) -> list[str]:
    """Overrides shrinking ``+experiment=ltr_align`` to a CPU run of seconds (resnet18, 32 px, 2 + 1 epochs)."""
    return [
        "+experiment=ltr_align",
        "data=endless_forams",
        f"data.root={data_root}",
        "data.image_size=32",
        "data.batch_size=12",
        "data.m_per_class=2",
        "data.num_workers=0",
        "model.net.trunk=resnet18",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=2",
        "trainer.check_val_every_n_epoch=1",
        "align.epochs=1",
        "callbacks.progress_bar=null",  # keeps pytest output readable; the bar itself is Lightning's
        f"cache_dir={cache_dir}",
        *extra,
    ]


def compose_cfg(overrides: list[str], *, hydra: bool = False) -> DictConfig:
    """Compose the REAL ``conf/train.yaml`` with overrides (no Hydra app, no working-dir change).

    ``hydra=True`` also returns the ``hydra`` node (sweep folders, sweeper params, launcher).
    """
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=hydra)


class InterruptInEpoch(L.Callback):
    """Raise at the first training batch of epoch ``epoch`` (0-based): a crash mid-run.

    Epoch ``epoch - 1`` has finished and its ``last.ckpt`` is on disk (ModelCheckpoint saves at the end
    of each training epoch). Added through the config (``+callbacks.interrupt=...``), like a user callback.
    """

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, batch_idx: int
    ) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError(f"simulated interruption in epoch {self.epoch}")


def brute_force_knn_acc(npz: dict[str, np.ndarray], k: int = 5) -> tuple[float, float]:
    """Overall and per-class-mean accuracy of a k-NN majority vote (ties -> nearest), in plain numpy.

    Args:
        npz: ``embeddings.npz`` contents (gallery/query embeddings [N,D]/[M,D], labels, ``query_extra``).

    Returns:
        (accuracy, mean over classes present in the queries of per-class accuracy).
    """
    g, gl = npz["gallery_embeddings"].astype(np.float64), npz["gallery_labels"]
    q, ql = npz["query_embeddings"].astype(np.float64), npz["query_labels"]
    d = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    pred = []
    for row in gl[order]:
        votes = {lab: int((row == lab).sum()) for lab in row}
        best = max(votes.values())
        pred.append(next(lab for lab in row if votes[lab] == best))  # first in distance order wins a tie
    pred = np.asarray(pred)
    per_class = [float((pred[ql == c] == c).mean()) for c in np.unique(ql)]
    overall = ~npz.get("query_extra", np.zeros(len(ql), dtype=bool))  # test-floor extras: not in overall
    return float((pred == ql)[overall].mean()), float(np.mean(per_class))
