"""The alignment stage: the embedding head trained towards the species anchors (trunk frozen by default) or, under
``align.objective=contrastive``, jointly with a DNA tower; then tested."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from visgen.results import RunRecord, annotate_metrics, write_anchors
from visgen.run.outcomes import species_distances
from visgen.run.stages import best_checkpoint, load_net_weights, log_to_wandb, speed_up
from visgen.run.trainer import build_trainer, finish_wandb

log = logging.getLogger(__name__)


def align_stage(
    cfg: DictConfig,
    dm: Any,
    run_dir: Path,
    record: RunRecord,
    weights: Path | None,
    resume: str | None,
    anchors: np.ndarray,
) -> None:
    """Align the embedding head to the genetic anchors (frozen trunk by default) and test it.

    ``align.objective=contrastive`` instead trains the head jointly with a DNA tower (``visgen.run.contrastive``)
    and writes the tower's species means as ``anchors.npy`` once the best checkpoint is loaded.
    """
    from visgen.lit.align import AlignModule
    from visgen.run.contrastive import contrastive_module

    stage_dir = run_dir / "align"
    start = time.time()
    stage_dir.mkdir(parents=True, exist_ok=True)
    contrastive = str(cfg.align.get("objective", "cosine")) == "contrastive"
    if not contrastive:
        # Row c = class c's target, exactly as trained on: plots and analyses need neither the FASTA nor the config.
        write_anchors(stage_dir, np.asarray(anchors))
    L.seed_everything(int(cfg.seed), workers=True)  # same reason as in the pretraining stage
    net_cfg = cfg.model.net if weights is not None else OmegaConf.merge(cfg.model.net, {"weights": "DEFAULT"})
    net = instantiate(net_cfg, num_classes=dm.num_classes)
    if weights is not None:
        load_net_weights(net, weights)
    speed_up(net, compile_model=bool(cfg.model.compile))
    sampling = str(cfg.align.get("sampling", "m_per_class"))
    if sampling == "instance_uniform_negative":
        dm.sampler = "instance_negative"  # the alignment's batches only; pretraining ran before with its own
    if contrastive:
        module = contrastive_module(cfg, net, dm.class_names)
    else:
        module = AlignModule(
            net=net,
            anchors=torch.as_tensor(anchors, dtype=torch.float32),
            loss=instantiate(cfg.align.loss),
            freeze_trunk=bool(cfg.align.freeze_trunk),
            ce_weight=float(cfg.align.ce_weight),
            reuse_features=bool(cfg.align.reuse_features),
            sampling=sampling,
            optimizer=instantiate(cfg.align.optimizer),
            scheduler=instantiate(cfg.align.scheduler) if cfg.align.scheduler is not None else None,
        )
    trainer, checkpoint = build_trainer(
        cfg, "align", stage_dir, stage_dir / "checkpoints", int(cfg.align.epochs),
        species_distances(cfg, dm.class_names),
    )  # fmt: skip
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=resume)
        best = best_checkpoint(checkpoint, stage_dir / "checkpoints")
        trainer.test(module, datamodule=dm, ckpt_path=str(best), weights_only=False)
        if contrastive and trainer.is_global_zero:
            # The trained tower's species means (the best checkpoint's, loaded by test): the DNA targets
            # the images were aligned to, in the place and format of the cosine alignment's anchors.
            write_anchors(stage_dir, module.species_anchors().cpu().numpy())
        log_to_wandb(trainer, stage_dir)
    finally:
        finish_wandb()
    annotate_metrics(stage_dir, profile=cfg.profile.name, stage="align")
    record.stages["align"] = {
        "best": str(best),
        "from": str(weights or "imagenet"),
        "wall_s": round(time.time() - start, 2),
    }
