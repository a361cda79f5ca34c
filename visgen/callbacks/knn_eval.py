"""KNN evaluation callback: gather embeddings, de-duplicate, call ``visgen.eval``, log, write files.

The evaluation dataloaders are ``[queries, gallery]``: dataloader 0 gives the validation (or test)
images, dataloader 1 the training images without augmentation. Each step's output
``{"embedding", "label", "index"}`` is collected here; at epoch end every rank gathers all ranks'
outputs, drops the duplicates that ``DistributedSampler`` pads in (same ``index``), sorts by ``index``
(so the arrays are identical to a single process's), and runs the KNN. Metrics are logged as
``{stage}/knn/{name}`` on every rank (identical values), so ``ModelCheckpoint(monitor="val/knn/acc")``
works under DDP. Beside the KNN, ``{stage}/ncm/{name}`` (no top-k) scores nearest-class-mean prediction over
the same embeddings, a class-balanced diagnostic the paper does not report (both from
``visgen.eval.stage.evaluate_embeddings``); so does where the KNN's errors land (``{stage}/knn/genus_acc``,
``{stage}/knn/error_tree_dist`` ..., along the ``species_distances`` that ``visgen.run`` builds). At test,
rank 0 writes ``metrics.json`` (with ``metrics_version``), ``embeddings.npz`` and ``per_species.csv``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor

from visgen.eval.knn import Metric
from visgen.eval.knn_settings import IndexKind, IndexSettings
from visgen.eval.metrics import group_accuracy, per_species_table
from visgen.eval.mistakes import SpeciesDistances
from visgen.eval.stage import METRICS_VERSION, evaluate_embeddings
from visgen.results import write_embeddings, write_metrics, write_per_species

log = logging.getLogger(__name__)

QUERY, GALLERY = 0, 1
#: Under ``selection=test`` the validation loop is ``[test, gallery, val]``: checkpoints follow the test split
#: (dataloader 0) while the real validation split rides along and is logged as ``val_split/*``, so one run
#: holds both selections' per-epoch numbers (the optimism of choosing on test, measured without retraining).
HELD_OUT = 2
_NAMES = {QUERY: "queries", GALLERY: "gallery", HELD_OUT: "held-out validation queries"}


def gather_rows(pl_module: L.LightningModule, x: Tensor) -> Tensor:
    """Concatenate a per-rank tensor [N_r, ...] across ranks into [sum N_r, ...] (rank order).

    ``all_gather`` needs equal shapes, so ranks first exchange their row counts and pad to the max.
    """
    world = pl_module.trainer.world_size
    if world == 1:
        return x
    sizes = pl_module.all_gather(torch.tensor([x.shape[0]], device=x.device)).reshape(world)
    longest = int(sizes.max())
    padded = torch.cat([x, x.new_zeros((longest - x.shape[0], *x.shape[1:]))])
    everything = pl_module.all_gather(padded)  # [world, longest, ...]
    return torch.cat([everything[r, : int(sizes[r])] for r in range(world)])


def unique_by_index(embedding: np.ndarray, label: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, ...]:
    """Keep the first row of each ``index`` and sort rows by it.

    Args:
        embedding: [N, E]; label: [N]; index: [N] sample ids, unique within a split.

    Returns:
        ``(embedding [U,E], label [U], index [U])`` with U unique ids, ascending.
    """
    uniq, first = np.unique(index, return_index=True)
    return embedding[first], label[first], uniq


class KnnEvalCallback(L.Callback):
    """k-NN evaluation of the embedding on validation (every validation run) and test (with files).

    Args:
        k: neighbours (5 in the paper).
        metric: ``"euclidean"`` (the paper) or ``"cosine"``.
        out_dir: where test writes ``metrics.json``, ``embeddings.npz``, ``per_species.csv``; None = no files.
        class_names: [C] species names; default ``trainer.datamodule.class_names``.
        rare_classes: rare class indices; default ``trainer.datamodule.rare_classes``.
        buckets: [C] shot buckets; default ``trainer.datamodule.shot_buckets``.
        extra: JSON-able facts copied into metrics.json (the pipeline passes ``stage`` and ``profile``).
        species_distances: the classes' genera and tree distances (``visgen.run.outcomes``), in the order of
            ``class_names``; None = genus and taxonomy from the class names, no tree distance.
        index: the gallery's FAISS index, ``"flat"`` (exact, the paper) or ``"ivf_flat"``, ``"ivf_pq"``,
            ``"hnsw"`` (approximate, for galleries of 10^5+ embeddings).
        index_settings: that index's settings (``IndexSettings()`` when None).
    """

    def __init__(
        self,
        k: int = 5,
        metric: Metric = "euclidean",
        out_dir: str | Path | None = None,
        class_names: Sequence[str] | None = None,
        rare_classes: Sequence[int] | None = None,
        buckets: Sequence[str] | None = None,
        extra: Mapping[str, Any] | None = None,
        species_distances: SpeciesDistances | None = None,
        index: IndexKind = "flat",
        index_settings: IndexSettings | None = None,
    ) -> None:
        self.k = k
        self.index: IndexKind = index
        self.index_settings = index_settings or IndexSettings()
        self.metric: Metric = metric
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.class_names = list(class_names) if class_names is not None else None
        self.rare_classes = [int(c) for c in rare_classes] if rare_classes is not None else None
        self.buckets = list(buckets) if buckets is not None else None
        self.extra = dict(extra or {})
        self.species_distances = species_distances
        self._outputs: dict[int, list[dict[str, Tensor]]] = {QUERY: [], GALLERY: [], HELD_OUT: []}
        self.last_metrics: dict[str, float] = {}

    # -- collection -------------------------------------------------------------------------------
    def _reset(self) -> None:
        self._outputs = {QUERY: [], GALLERY: [], HELD_OUT: []}

    def _collect(self, outputs: Any, dataloader_idx: int) -> None:
        if dataloader_idx not in self._outputs:
            raise RuntimeError(
                f"KnnEvalCallback: unexpected dataloader {dataloader_idx}; expected [queries, gallery]"
            )
        self._outputs[dataloader_idx].append(
            {key: outputs[key].detach() for key in ("embedding", "label", "index")}
        )

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reset()

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reset()

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not trainer.sanity_checking:
            self._collect(outputs, dataloader_idx)

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._collect(outputs, dataloader_idx)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The sanity check sees two batches of each loader: a KNN on that would be meaningless.
        if not trainer.sanity_checking:
            self._evaluate(trainer, pl_module, "val")
            if self._outputs[HELD_OUT]:
                self._evaluate(trainer, pl_module, "val", which=HELD_OUT)
        self._reset()

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluate(trainer, pl_module, "test")
        self._reset()

    # -- evaluation -------------------------------------------------------------------------------
    def _split(self, pl_module: L.LightningModule, which: int, stage: str) -> tuple[np.ndarray, ...]:
        outs = self._outputs[which]
        if not outs:
            name = _NAMES[which]
            raise RuntimeError(
                f"KnnEvalCallback: no {name} batches at {stage}; the {stage} dataloaders must be [queries, gallery]"
            )
        parts = [
            gather_rows(pl_module, torch.cat([o[key] for o in outs]))
            for key in ("embedding", "label", "index")
        ]
        emb, lab, idx = (p.cpu().numpy() for p in parts)
        unique = unique_by_index(emb.astype(np.float32), lab.astype(np.int64), idx.astype(np.int64))
        if len(unique[2]) < len(idx) and pl_module.trainer.is_global_zero:
            log.info(
                "%s %s: dropped %d padded duplicates of %d gathered rows",
                stage,
                _NAMES[which],
                len(idx) - len(unique[2]),
                len(idx),
            )
        return unique

    def _facts(
        self, trainer: L.Trainer, labels: np.ndarray
    ) -> tuple[list[str], list[int] | None, list[str] | None]:
        dm = getattr(trainer, "datamodule", None)
        names = self.class_names or getattr(dm, "class_names", None)
        rare = self.rare_classes if self.rare_classes is not None else getattr(dm, "rare_classes", None)
        buckets = self.buckets if self.buckets is not None else getattr(dm, "shot_buckets", None)
        if names is None:
            names = [str(c) for c in range(int(labels.max()) + 1)]
        return (
            list(names),
            (sorted(int(c) for c in rare) if rare is not None else None),
            (list(buckets) if buckets is not None else None),
        )

    def _distances(self, trainer: L.Trainer, names: list[str]) -> SpeciesDistances | None:
        """The distances for ``names``: the given ones (which must name the same classes), else genus and taxonomy
        from real class names; None when the classes have no names (labels only)."""
        if self.species_distances is not None:
            if list(self.species_distances.class_names) != names:
                raise RuntimeError(
                    "KnnEvalCallback: species_distances name other classes than the data "
                    f"({len(self.species_distances.class_names)} vs {len(names)} names)"
                )
            return self.species_distances
        named = self.class_names or getattr(getattr(trainer, "datamodule", None), "class_names", None)
        return SpeciesDistances.names_only(names) if named else None

    @staticmethod
    def _extra_queries(trainer: L.Trainer, stage: str, q_idx: np.ndarray, which: int = QUERY) -> np.ndarray:
        """bool [M]: test queries that ForamSim's test floor added (``datamodule.extra_test``, by split
        position); they count in the class-level accuracies but not in overall accuracy."""
        dm = getattr(trainer, "datamodule", None)
        # Under selection=test the validation loop's queries are the test split: the same mask.
        on_test = stage == "test" or (which == QUERY and getattr(dm, "selection", "val") == "test")
        flags = getattr(dm, "extra_test", None) if on_test else None
        if flags is None:
            return np.zeros(len(q_idx), dtype=bool)
        return np.asarray(flags, dtype=bool)[q_idx]

    def _evaluate(
        self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str, which: int = QUERY
    ) -> None:
        q_emb, q_lab, q_idx = self._split(pl_module, which, stage)
        g_emb, g_lab, g_idx = self._split(pl_module, GALLERY, stage)
        names, rare, buckets = self._facts(trainer, np.concatenate([q_lab, g_lab]))
        extra = self._extra_queries(trainer, stage, q_idx, which)
        scores, pred = evaluate_embeddings(
            g_emb, g_lab, q_emb, q_lab, num_classes=len(names), k=self.k, metric=self.metric,
            rare_classes=rare, buckets=buckets, overall_mask=~extra, distances=self._distances(trainer, names),
            index=self.index, index_settings=self.index_settings,
        )  # fmt: skip
        # Named class groups of the data (the image-only species of data.classes=all): their own accuracy.
        for group, members in (
            getattr(getattr(trainer, "datamodule", None), "class_groups", None) or {}
        ).items():
            scores[f"knn/{group}_acc"] = group_accuracy(pred, q_lab, len(names), members)
        prefix = "val_split" if which == HELD_OUT else stage
        logged = {f"{prefix}/{name}": value for name, value in scores.items()}
        if which == QUERY:
            self.last_metrics = logged
        for key, value in logged.items():
            # Every rank holds the same gathered arrays, hence the same values: no sync needed.
            pl_module.log(key, value, add_dataloader_idx=False, sync_dist=False)
        if trainer.is_global_zero:
            log.info(
                "%s knn (k=%d, %s): acc %.4f, per-class %.4f, rare %.4f over %d queries%s, %d gallery "
                "(nearest class mean: per-class %.4f, rare %.4f; genus %.4f, error tree distance %.3f)",
                prefix, self.k, self.metric, scores["knn/acc"], scores["knn/per_class_acc"], scores["knn/rare_acc"],
                len(q_lab), f" ({int(extra.sum())} test-floor extras, not in acc)" if extra.any() else "", len(g_lab),
                scores["ncm/per_class_acc"], scores["ncm/rare_acc"],
                scores.get("knn/genus_acc", math.nan), scores.get("knn/error_tree_dist", math.nan),
            )  # fmt: skip
        if stage == "test" and which == QUERY and self.out_dir is not None and trainer.is_global_zero:
            n_train = np.bincount(g_lab, minlength=len(names))
            table = per_species_table(
                pred, q_lab, class_names=names, n_train=n_train, rare_classes=rare, buckets=buckets
            )
            self._write(names, rare, table, (g_emb, g_lab, g_idx), (q_emb, q_lab, q_idx), extra)

    def write_outputs(
        self,
        scores: Mapping[str, float],
        names: list[str],
        rare: list[int] | None,
        table: list[dict[str, object]],
        gallery: tuple[np.ndarray, ...],
        queries: tuple[np.ndarray, ...],
        extra: np.ndarray,
    ) -> None:
        """Write the test files for ``test/...`` scores computed outside a Trainer (the rebalance stage)."""
        self.last_metrics = dict(scores)
        self._write(names, rare, table, gallery, queries, extra)

    def _write(
        self,
        names: list[str],
        rare: list[int] | None,
        table: list[dict[str, object]],
        gallery: tuple[np.ndarray, ...],
        queries: tuple[np.ndarray, ...],
        extra: np.ndarray,
    ) -> None:
        assert self.out_dir is not None
        # JSON has no NaN: an undefined metric (e.g. no rare class among the queries) is written as null.
        record: dict[str, Any] = {key: None if math.isnan(v) else v for key, v in self.last_metrics.items()}
        record.update(
            rare_species=[names[c] for c in rare] if rare is not None else None,
            k=self.k,
            metric=self.metric,
            index=self.index,
            # The approximate indexes' settings change the results; flat reads none that do.
            **({} if self.index == "flat" else {"index_settings": asdict(self.index_settings)}),
            n_queries=len(queries[1]),
            n_queries_extra=int(extra.sum()),
            n_gallery=len(gallery[1]),
            # What knn/error_tree_dist measures along: "taxonomy", the ForamSim tree source, or null (none).
            error_tree=self.species_distances.source if self.species_distances is not None else None,
            metrics_version=METRICS_VERSION,
            **self.extra,
        )
        write_metrics(self.out_dir, record)
        write_embeddings(
            self.out_dir,
            gallery_embeddings=gallery[0],
            gallery_labels=gallery[1],
            gallery_index=gallery[2],
            query_embeddings=queries[0],
            query_labels=queries[1],
            query_index=queries[2],
            query_extra=extra,
            species=np.array(names),
        )
        write_per_species(self.out_dir, table)
        log.info("wrote %s/{metrics.json,embeddings.npz,per_species.csv}", self.out_dir)
