"""The pretraining stage: metric learning (+ softmax, LTR) once per content-addressed cache entry, then tested."""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from visgen.eval.mistakes import SpeciesDistances
from visgen.results import RunRecord, annotate_metrics, write_config
from visgen.run.cache import PretrainCache, pretrain_relevant
from visgen.run.outcomes import species_distances
from visgen.run.refresh import refresh_metrics
from visgen.run.stages import best_checkpoint, load_net_weights, log_to_wandb, speed_up
from visgen.run.trainer import build_trainer, finish_wandb

log = logging.getLogger(__name__)


def build_pretrain_module(cfg: DictConfig, num_classes: int, **overrides: Any) -> L.LightningModule:
    """The metric-learning pretraining module (net + triplet/softmax losses + optimiser)."""
    from visgen.lit.pretrain import MetricPretrainModule

    net = instantiate(cfg.model.net, num_classes=num_classes)
    metric = instantiate(cfg.loss.metric) if cfg.loss.metric is not None else None
    kwargs: dict[str, Any] = {
        "net": net,
        "metric_loss": metric,
        "metric_weight": float(cfg.loss.metric_weight),
        "ce_weight": float(cfg.loss.ce_weight),
        "optimizer": instantiate(cfg.model.optimizer),
        "scheduler": instantiate(cfg.model.scheduler) if cfg.model.scheduler is not None else None,
        **overrides,
    }
    return MetricPretrainModule(**kwargs)


def pretrain_stage(
    cfg: DictConfig, dm: Any, run_dir: Path, record: RunRecord, resume: str | None
) -> tuple[Path, bool]:
    """Pretrain (or reuse the cached pretraining) and test it; return (best checkpoint, trained now?).

    A one-process job holds the cache entry's lock throughout, so parallel sweep jobs that share this
    pretraining train it once (the others wait, then reuse it). The ranks of a DDP job cannot take that
    lock (they train together); DDP jobs of a parallel sweep still need their producers run first.
    """
    relevant = pretrain_relevant(cfg)
    if cfg.genetics.get("fasta") is not None or not dm.layout.facts.synthetic:
        # The classes come from the data joined with the FASTA, which the config alone does not pin down.
        relevant["classes"] = list(dm.class_names)
    cache = PretrainCache(Path(cfg.cache_dir) / "pretrain", relevant)
    with cache.exclusive() if one_process(cfg) else nullcontext():
        return _pretrain_or_reuse(cfg, dm, run_dir, record, resume, cache)


def one_process(cfg: DictConfig) -> bool:
    """Whether the trainer runs as a single process (one device, one node): then the run may lock."""
    devices = cfg.trainer.get("devices", 1)
    single = len(devices) == 1 if OmegaConf.is_list(devices) else str(devices) == "1"
    return single and int(cfg.trainer.get("num_nodes", 1)) == 1


def _pretrain_or_reuse(
    cfg: DictConfig, dm: Any, run_dir: Path, record: RunRecord, resume: str | None, cache: PretrainCache
) -> tuple[Path, bool]:
    """The pretraining stage proper (see ``pretrain_stage``)."""
    stage_dir = run_dir / "pretrain"
    start = time.time()
    distances = species_distances(cfg, dm.class_names)
    if cache.is_complete():
        log.info(
            "pretraining %s already complete: reusing %s (nothing is trained twice)", cache.key, cache.dir
        )
        here = "cpu" if cfg.trainer.accelerator == "cpu" or not torch.cuda.is_available() else "cuda"
        if note := cache.reuse_note(here, torch.get_num_threads()):
            log.warning(note)
        refresh_metrics(
            cache.dir,
            buckets=dm.shot_buckets,
            extra_test=getattr(dm, "extra_test", None),
            distances=distances,
        )
        cache.restore_outputs(stage_dir)
        annotate_metrics(stage_dir, profile=cfg.profile.name, stage="pretrain")
        record.stages["pretrain"] = {
            "reused": True,
            "cache": str(cache.dir),
            "wall_s": round(time.time() - start, 2),
        }
        return cache.best, False
    cache.prepare()
    if resume is None and cache.last.is_file():
        resume = str(cache.last)
        log.info("resuming the interrupted pretraining %s from %s", cache.key, resume)
    # Re-seed here so the initial weights do not depend on whether data generation ran in this process.
    L.seed_everything(int(cfg.seed), workers=True)
    module = build_pretrain_module(cfg, dm.num_classes)
    speed_up(module.net, compile_model=bool(cfg.model.compile))
    trainer, checkpoint = build_trainer(
        cfg, "pretrain", stage_dir, cache.dir, int(cfg.trainer.max_epochs), distances
    )
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=resume)
        best = best_checkpoint(checkpoint, cache.dir)
        if cfg.ltr.get("balancing"):
            module, trainer, best = _weight_balancing_stage2(cfg, dm, stage_dir, cache, best, distances)
        trainer.test(module, datamodule=dm, ckpt_path=str(best), weights_only=False)
        log_to_wandb(trainer, stage_dir)
    finally:
        finish_wandb()
    metrics = annotate_metrics(stage_dir, profile=cfg.profile.name, stage="pretrain")
    cache.store_outputs(stage_dir)
    write_config(
        cache.dir, OmegaConf.to_container(cfg, resolve=True)
    )  # `visgen predict <cache>/best.ckpt` rebuilds from it
    cache.mark_complete(
        {
            "best": str(best),
            "test/knn/acc": metrics.get("test/knn/acc"),
            "run_dir": str(run_dir),
            "device": trainer.strategy.root_device.type,
            "cpu_threads": torch.get_num_threads(),
        }
    )
    record.stages["pretrain"] = {
        "reused": False,
        "cache": str(cache.dir),
        "best": str(best),
        "wall_s": round(time.time() - start, 2),
    }
    return best, True


def _weight_balancing_stage2(
    cfg: DictConfig,
    dm: Any,
    stage_dir: Path,
    cache: PretrainCache,
    stage1_best: Path,
    distances: SpeciesDistances,
) -> tuple[Any, L.Trainer, Path]:
    """Alshammari et al.'s stage 2: frozen trunk, class-balanced CE, MaxNorm, from stage 1's best weights."""
    s2 = cfg.ltr.stage2
    optimizer = instantiate(cfg.model.optimizer, lr=s2.lr, weight_decay=s2.weight_decay)
    module = build_pretrain_module(
        cfg,
        dm.num_classes,
        optimizer=optimizer,
        scheduler=None,
        freeze_trunk=True,
        class_balanced=True,
        class_counts=[int(c) for c in dm.train_counts],
        max_norm=float(s2.max_norm),
    )
    load_net_weights(module.net, stage1_best)
    speed_up(module.net, compile_model=bool(cfg.model.compile))
    stage2_dir = cache.dir / "stage2"
    trainer, checkpoint = build_trainer(
        cfg, "pretrain_stage2", stage_dir, stage2_dir, int(s2.epochs), distances
    )
    # An interrupted stage 2 continues from its own last.ckpt (stage 1's lies one folder up).
    resume = stage2_dir / "last.ckpt"
    if resume.is_file():
        log.info("resuming the interrupted weight-balancing stage 2 from %s", resume)
    trainer.fit(module, datamodule=dm, ckpt_path=str(resume) if resume.is_file() else None)
    best = best_checkpoint(checkpoint, stage2_dir)
    final = cache.dir / "best.ckpt"
    final.write_bytes(best.read_bytes())  # the cache's best.ckpt is the model after both LTR stages
    return module, trainer, final
