"""Trainer assembly: one Lightning Trainer per stage, with the config's callbacks and logger."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from visgen.eval.mistakes import SpeciesDistances


def build_trainer(
    cfg: DictConfig,
    stage: str,
    stage_dir: Path,
    ckpt_dir: Path,
    max_epochs: int,
    species_distances: SpeciesDistances | None = None,
) -> tuple[L.Trainer, Any]:
    """One Lightning Trainer per stage, writing its outputs to ``stage_dir`` and checkpoints to ``ckpt_dir``.

    ``species_distances`` (``visgen.run.outcomes``) go to the evaluation callback, which scores where errors land.

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
            # A partial, then the call: the distances are an object with arrays, not config for Hydra to merge.
            evaluation = instantiate(node, out_dir=str(stage_dir), extra=extra, _partial_=True)
            callbacks.append(evaluation(species_distances=species_distances))
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


def finish_wandb() -> None:
    """Close a W&B run if one was opened (``wandb.finish()`` in a ``finally``, so a failing job never leaves a W&B run open and a sweep goes on)."""
    wandb = sys.modules.get("wandb")  # only if something imported it: never import W&B just to close it
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()
