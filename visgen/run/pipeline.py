"""The one place where config becomes objects: data, anchors, modules, trainers; then the stages run.

``run(cfg)`` seeds everything, builds the data module, pretrains (or reuses a cached pretraining with
the same relevant config), aligns the embedding to the genetic anchors, tests each stage with its
best-on-validation checkpoint, writes ``run.json`` and prints the final table. Stage details that
live in the sibling modules of ``visgen.run``.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from visgen.errors import UserInputError
from visgen.resources import data_path
from visgen.run.cache import PretrainCache, pretrain_relevant
from visgen.run.checks import SIM_KEYS, check_config
from visgen.run.record import RunRecord, annotate_metrics, format_table, stage_rows
from visgen.run.refresh import refresh_metrics
from visgen.run.stages import (
    best_checkpoint,
    dataset_facts,
    imagenet_weights_cached,
    load_net_weights,
    log_to_wandb,
    speed_up,
)

log = logging.getLogger(__name__)


def run(cfg: DictConfig, run_dir: Path | None = None) -> dict[str, Any]:
    """Run the configured stages and write ``run.json``; return the last stage's test metrics.

    Args:
        cfg: the composed config (``conf/train.yaml`` + overrides).
        run_dir: output folder; defaults to Hydra's job output folder (or the working directory).

    Returns:
        The ``metrics.json`` contents of the last stage that ran (empty if none ran).

    Raises:
        UserInputError: a user mistake (bad path, unknown species ...); recorded in run.json first.
    """
    run_dir = Path(run_dir) if run_dir is not None else _hydra_output_dir()
    profile = str(cfg.profile.name)
    # Printed, not logged: the one line people check first when numbers look wrong.
    print(f"visgen: experiment '{cfg.name}', profile '{profile}', seed {cfg.seed}, output {run_dir}")
    # W&B must never phone home unless the user asked for it.
    os.environ.setdefault("WANDB_MODE", "offline")
    record = RunRecord(run_dir=run_dir, name=str(cfg.name), profile=profile, seed=cfg.seed)
    record.write()
    try:
        check_config(cfg)  # before anything is built: a typo costs a second, not a pretraining
        _run_stages(cfg, run_dir, record)
        if record.status == "running":
            record.status = "ok"
    except BaseException as err:
        mistake = _user_mistake(err)
        record.fail(mistake or err)
        if mistake is not None:
            raise mistake from None
        raise
    finally:
        record.write()
    rows = stage_rows(run_dir, list(cfg.stages))
    if rows:
        print(
            format_table(
                rows, title=f"{cfg.name} | profile {profile} | seed {cfg.seed} | KNN k=5 test accuracy (%)"
            )
        )
    return next(reversed(rows.values()), {})


def _user_mistake(err: BaseException) -> UserInputError | None:
    """The user mistake behind ``err``: itself, or the one a constructor raised inside Hydra's ``instantiate``."""
    from hydra.errors import InstantiationException

    if isinstance(err, UserInputError):
        return err
    if isinstance(err, InstantiationException) and isinstance(err.__cause__, UserInputError):
        return err.__cause__
    return None


def _hydra_output_dir() -> Path:
    """Hydra's job output folder inside ``@hydra.main``; the working directory otherwise (tests, notebooks)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path.cwd()


def _run_stages(cfg: DictConfig, run_dir: Path, record: RunRecord) -> None:
    """Build the data and run pretraining and/or alignment as ``cfg.stages`` asks."""
    if torch.cuda.is_available():
        # TF32 for the float32 matmuls left outside autocast (KNN prep, heads): free speed on Ampere+.
        torch.set_float32_matmul_precision("high")
    L.seed_everything(int(cfg.seed), workers=True)
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    record.data = dataset_facts(dm)
    record.write()
    resume = cfg.ckpt_path
    weights: Path | None = None
    if "pretrain" in cfg.stages:
        weights, trained = _pretrain_stage(cfg, dm, run_dir, record, resume)
        resume = None if trained else resume  # ckpt_path resumes the first stage that still trains
    if "align" in cfg.stages:
        if weights is None and not imagenet_weights_cached(cfg.model.net.trunk):
            record.status = "unavailable"
            record.error = (
                f"stages=[align] needs ImageNet weights for {cfg.model.net.trunk} in {torch.hub.get_dir()}/checkpoints "
                "(offline machine); they were not found"
            )
            log.warning(record.error)
            return
        _align_stage(cfg, dm, run_dir, record, weights, resume)
    if "gzsl" in cfg.stages and weights is not None:  # check_config ensures pretrain runs with gzsl
        from visgen.run.gzsl import gzsl_stage

        gzsl_stage(cfg, dm, run_dir, record, weights)


def build_datamodule(cfg: DictConfig) -> L.LightningDataModule:
    """Instantiate the image data module, folding the flat ForamSim keys into its ``sim`` dict."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    sim = {new: data.pop(old) for old, new in SIM_KEYS.items() if old in data}
    return instantiate(data, sim=sim, cache_dir=str(Path(cfg.cache_dir) / "data"), _convert_="all")


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


def build_trainer(
    cfg: DictConfig, stage: str, stage_dir: Path, ckpt_dir: Path, max_epochs: int
) -> tuple[L.Trainer, Any]:
    """One Lightning Trainer per stage, writing its outputs to ``stage_dir`` and checkpoints to ``ckpt_dir``.

    Returns:
        The trainer and its ModelCheckpoint (for ``best_model_path``).
    """
    callbacks = []
    checkpoint = None
    for node in cfg.callbacks.values():
        if node is None:  # a callback switched off with callbacks.<name>=null
            continue
        if "out_dir" in node:
            extra = {"stage": stage.removesuffix("_stage2"), "profile": str(cfg.profile.name)}
            callbacks.append(instantiate(node, out_dir=str(stage_dir), extra=extra))
        elif "dirpath" in node:
            callbacks.append(instantiate(node, dirpath=str(ckpt_dir)))
            if node.get("monitor") == cfg.monitor:
                checkpoint = callbacks[-1]
        else:
            callbacks.append(instantiate(node))
    logger = instantiate(cfg.logger, save_dir=str(stage_dir)) if cfg.get("logger") else False
    if logger:
        logger.log_hyperparams({"stage": stage, **OmegaConf.to_container(cfg, resolve=True)})
    trainer = instantiate(
        cfg.trainer,
        max_epochs=max_epochs,
        default_root_dir=str(stage_dir),
        callbacks=callbacks,
        logger=logger,
    )
    return trainer, checkpoint


def _pretrain_stage(
    cfg: DictConfig, dm: Any, run_dir: Path, record: RunRecord, resume: str | None
) -> tuple[Path, bool]:
    """Pretrain (or reuse the cached pretraining) and test it; return (best checkpoint, trained now?).

    A one-process job holds the cache entry's lock throughout, so parallel sweep jobs that share this
    pretraining train it once (the others wait, then reuse it). The ranks of a DDP job cannot take that
    lock (they train together); DDP jobs of a parallel sweep still need their producers run first.
    """
    cache = PretrainCache(Path(cfg.cache_dir) / "pretrain", pretrain_relevant(cfg))
    with cache.exclusive() if _one_process(cfg) else nullcontext():
        return _pretrain_or_reuse(cfg, dm, run_dir, record, resume, cache)


def _one_process(cfg: DictConfig) -> bool:
    """Whether the trainer runs as a single process (one device, one node): then the run may lock."""
    devices = cfg.trainer.get("devices", 1)
    single = len(devices) == 1 if OmegaConf.is_list(devices) else str(devices) == "1"
    return single and int(cfg.trainer.get("num_nodes", 1)) == 1


def _pretrain_or_reuse(
    cfg: DictConfig, dm: Any, run_dir: Path, record: RunRecord, resume: str | None, cache: PretrainCache
) -> tuple[Path, bool]:
    """The pretraining stage proper (see ``_pretrain_stage``)."""
    stage_dir = run_dir / "pretrain"
    start = time.time()
    if cache.is_complete():
        log.info(
            "pretraining %s already complete: reusing %s (nothing is trained twice)", cache.key, cache.dir
        )
        here = "cpu" if cfg.trainer.accelerator == "cpu" or not torch.cuda.is_available() else "cuda"
        if note := cache.reuse_note(here, torch.get_num_threads()):
            log.warning(note)
        refresh_metrics(cache.dir, buckets=dm.shot_buckets, extra_test=getattr(dm, "extra_test", None))
        cache.restore_outputs(stage_dir)
        annotate_metrics(stage_dir / "metrics.json", profile=cfg.profile.name, stage="pretrain")
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
    trainer, checkpoint = build_trainer(cfg, "pretrain", stage_dir, cache.dir, int(cfg.trainer.max_epochs))
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=resume)
        best = best_checkpoint(checkpoint, cache.dir)
        if cfg.ltr.get("balancing"):
            module, trainer, best = _weight_balancing_stage2(cfg, dm, stage_dir, cache, best)
        trainer.test(module, datamodule=dm, ckpt_path=str(best), weights_only=False)
        log_to_wandb(trainer, stage_dir)
    finally:
        _finish_wandb()
    metrics = annotate_metrics(stage_dir / "metrics.json", profile=cfg.profile.name, stage="pretrain")
    cache.store_outputs(stage_dir)
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
    cfg: DictConfig, dm: Any, stage_dir: Path, cache: PretrainCache, stage1_best: Path
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
    trainer, checkpoint = build_trainer(cfg, "pretrain_stage2", stage_dir, stage2_dir, int(s2.epochs))
    # An interrupted stage 2 continues from its own last.ckpt (stage 1's lies one folder up).
    resume = stage2_dir / "last.ckpt"
    if resume.is_file():
        log.info("resuming the interrupted weight-balancing stage 2 from %s", resume)
    trainer.fit(module, datamodule=dm, ckpt_path=str(resume) if resume.is_file() else None)
    best = best_checkpoint(checkpoint, stage2_dir)
    final = cache.dir / "best.ckpt"
    final.write_bytes(best.read_bytes())  # the cache's best.ckpt is the model after both LTR stages
    return module, trainer, final


def _align_stage(
    cfg: DictConfig, dm: Any, run_dir: Path, record: RunRecord, weights: Path | None, resume: str | None
) -> None:
    """Align the embedding head to the genetic anchors (frozen trunk by default) and test it."""
    from visgen.lit.align import AlignModule

    stage_dir = run_dir / "align"
    start = time.time()
    anchors = build_anchors(cfg, dm.class_names)
    stage_dir.mkdir(parents=True, exist_ok=True)
    # Row c = class c's target, exactly as trained on: plots and analyses need neither the FASTA nor the config.
    np.save(stage_dir / "anchors.npy", np.asarray(anchors, dtype=np.float32))
    L.seed_everything(int(cfg.seed), workers=True)  # same reason as in the pretraining stage
    net_cfg = cfg.model.net if weights is not None else OmegaConf.merge(cfg.model.net, {"weights": "DEFAULT"})
    net = instantiate(net_cfg, num_classes=dm.num_classes)
    if weights is not None:
        load_net_weights(net, weights)
    speed_up(net, compile_model=bool(cfg.model.compile))
    module = AlignModule(
        net=net,
        anchors=torch.as_tensor(anchors, dtype=torch.float32),
        loss=instantiate(cfg.align.loss),
        freeze_trunk=bool(cfg.align.freeze_trunk),
        ce_weight=float(cfg.align.ce_weight),
        reuse_features=bool(cfg.align.reuse_features),
        optimizer=instantiate(cfg.align.optimizer),
        scheduler=instantiate(cfg.align.scheduler) if cfg.align.scheduler is not None else None,
    )
    trainer, checkpoint = build_trainer(
        cfg, "align", stage_dir, stage_dir / "checkpoints", int(cfg.align.epochs)
    )
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=resume)
        best = best_checkpoint(checkpoint, stage_dir / "checkpoints")
        trainer.test(module, datamodule=dm, ckpt_path=str(best), weights_only=False)
        log_to_wandb(trainer, stage_dir)
    finally:
        _finish_wandb()
    annotate_metrics(stage_dir / "metrics.json", profile=cfg.profile.name, stage="align")
    record.stages["align"] = {
        "best": str(best),
        "from": str(weights or "imagenet"),
        "wall_s": round(time.time() - start, 2),
    }


def build_anchors(cfg: DictConfig, class_names: list[str]) -> Any:
    """Genetic anchors [C, 256] for the data module's classes, preprocessed and (optionally) replaced by a control."""
    from visgen.genetics.anchors import anchor_geometry, control_anchors, preprocess_anchors
    from visgen.genetics.dataset import load_genetic_anchors

    genetics = OmegaConf.to_container(cfg.genetics, resolve=True)
    genetics.pop("_target_", None)
    fasta = genetics.pop("fasta", None) or data_path("foram_18S_rDNA.fasta")
    genetic = load_genetic_anchors(fasta, **genetics, cache_dir=Path(cfg.cache_dir) / "genetics")
    anchors, missing = genetic.for_classes(class_names)
    if missing:
        raise UserInputError(
            f"{fasta}: no DNA for image species {', '.join(missing)}; use data.classes=dna or add their sequences"
        )
    anchors = preprocess_anchors(anchors, mode=str(cfg.align.anchor_mode))
    anchors = control_anchors(anchors, kind=str(cfg.align.control), seed=int(cfg.align.control_seed))
    log.info(
        "anchor geometry (%s, control %s): %s",
        cfg.align.anchor_mode,
        cfg.align.control,
        anchor_geometry(anchors),
    )
    return anchors


def _finish_wandb() -> None:
    """Close a W&B run if one was opened (house rule 12: ``wandb.finish()`` in a ``finally``)."""
    import sys

    wandb = sys.modules.get("wandb")  # only if something imported it: never import W&B just to close it
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()
