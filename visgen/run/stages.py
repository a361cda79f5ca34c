"""Small pieces of the stages that need torch but no config: weights, speed knobs, data facts, W&B extras."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from visgen.results import read_per_species

log = logging.getLogger(__name__)


def speed_up(net: nn.Module, *, compile_model: bool) -> None:
    """Apply the speed knobs that leave the maths unchanged.

    Channels-last is handled by ``EmbeddingNet(channels_last=...)`` itself; here only ``torch.compile``,
    in place (``nn.Module.compile``), so state-dict keys stay free of ``_orig_mod.`` and checkpoints reload
    into uncompiled nets.
    """
    if compile_model:
        if not torch.cuda.is_available():
            log.info(
                "model.compile=true ignored: no CUDA device (compilation would cost more than it saves on CPU)"
            )
            return
        net.compile()


def load_net_weights(net: nn.Module, ckpt: Path) -> None:
    """Load the ``net.*`` weights of a Lightning checkpoint into ``net`` (strict: every key must match).

    Args:
        net: the ``EmbeddingNet`` to fill.
        ckpt: a checkpoint of a module that holds the net as attribute ``net``.
    """
    # weights_only=True: a checkpoint is data, never code (loading one must not run what it contains).
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    net_state = {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}
    net.load_state_dict(net_state, strict=True)
    log.info("loaded %d tensors of the pretrained net from %s", len(net_state), ckpt)


def imagenet_weights_cached(trunk: str) -> bool:
    """Whether torchvision's ImageNet weights of ``trunk`` are in the torch hub cache (usable offline)."""
    import torchvision

    try:
        # DEFAULT = the best ImageNet weights torchvision has for this trunk (V2 for resnet50, V1 for resnet18).
        url = torchvision.models.get_model_weights(trunk)["DEFAULT"].url
    except (KeyError, ValueError):
        return False
    return (Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name).is_file()


def dataset_facts(dm: Any) -> dict[str, Any]:
    """Facts about the data a run used: the source's ``dataset.json`` plus class and split sizes."""
    facts: dict[str, Any] = {}
    for attr in ("dataset_json", "dataset_info"):
        info = getattr(dm, attr, None)
        if isinstance(info, (str, Path)) and Path(info).is_file():
            info = json.loads(Path(info).read_text())
        if isinstance(info, dict):
            facts.update(info)
            break
    facts["num_classes"] = int(dm.num_classes)
    facts["class_names"] = list(dm.class_names)
    facts["train_counts"] = [int(c) for c in dm.train_counts]
    facts["rare_species"] = [dm.class_names[i] for i in dm.rare_classes]
    facts.setdefault("scale", float(getattr(dm, "scale", 1.0)))
    return facts


def log_to_wandb(trainer: L.Trainer, stage_dir: Path) -> None:
    """Send the per-species table and the plots to W&B when the stage logged to W&B (no-op otherwise)."""
    from lightning.pytorch.loggers import WandbLogger

    loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
    if not loggers:
        return
    import wandb

    run = loggers[0].experiment
    rows = read_per_species(stage_dir)
    if rows:
        run.log({"per_species": wandb.Table(columns=list(rows[0]), data=[list(r.values()) for r in rows])})
    try:
        from visgen.report.plots import log_run_plots
    except ImportError:
        log.info("visgen.report.plots not available: no plots sent to W&B")
        return
    # Draws every stage finished so far (t-SNE, confusion, per-class vs count) into <run_dir>/plots/.
    log_run_plots(stage_dir.parent, loggers)


def best_checkpoint(checkpoint: Any, ckpt_dir: Path) -> Path:
    """The best-on-validation checkpoint as ``ckpt_dir/best.ckpt`` (``last.ckpt`` if validation never ran)."""
    target = ckpt_dir / "best.ckpt"
    best = Path(checkpoint.best_model_path) if checkpoint is not None and checkpoint.best_model_path else None
    if best is None or not best.is_file():
        log.warning("no validation ran (trainer.check_val_every_n_epoch > epochs?): using last.ckpt as best")
        best = ckpt_dir / "last.ckpt"
    if best.resolve() != target.resolve():
        target.write_bytes(best.read_bytes())
    return target
