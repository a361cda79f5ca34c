"""A run from config to folder: ``run(cfg)`` checks the config, seeds everything, builds the data module and the
anchors, runs the stages ``cfg.stages`` asks for, writes ``run.json`` and prints the final table.

Config becomes objects only inside ``visgen.run``: the data module here, the anchors in ``anchors.py``, the
trainers in ``trainer.py``, one module per stage (``pretrain.py``, ``align.py``, ``rebalance.py``). Each stage
tests its best-on-validation checkpoint (``selection=test``: on test, the authors' protocol).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from visgen.errors import UserInputError
from visgen.results import SPLITS_CSV, RunRecord, write_config
from visgen.run.anchors import build_anchors, genetics_options, prepare_gzsl_anchors
from visgen.run.checks import check_config
from visgen.run.data_checks import check_data
from visgen.run.machine import describe_machine
from visgen.run.record import format_table, stage_rows

if TYPE_CHECKING:
    import lightning as L

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
    record = RunRecord(
        run_dir=run_dir, name=str(cfg.name), profile=profile, seed=cfg.seed,
        overrides=_task_overrides(), machine=describe_machine(), protocol=protocol_facts(cfg),
    )  # fmt: skip
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
        print(format_table(rows, title=f"{cfg.name} | profile {profile} | seed {cfg.seed}"))
    return next(reversed(rows.values()), {})


def protocol_facts(cfg: DictConfig) -> dict[str, Any]:
    """The switches on which our protocol and the authors' differ (``conf/protocol/``), for ``run.json``.

    ``selection`` = ``"test"`` marks a run whose checkpoints were chosen on the test split: its test
    numbers are optimistic, and ``visgen report`` labels its rows.
    """
    return {
        "protocol": str(cfg.get("protocol", {}).get("name", "ours")),
        "selection": str(cfg.get("selection", "val")),
        "head": str(cfg.model.get("head", "linear")),
        "align_sampling": str(cfg.align.get("sampling", "m_per_class")),
        "greyscale": bool(cfg.data.get("greyscale", True)),
        "weights": None if cfg.model.net.get("weights") is None else str(cfg.model.net.weights),
    }


def _user_mistake(err: BaseException) -> UserInputError | None:
    """The user mistake behind ``err``: itself, or the one a constructor raised inside Hydra's ``instantiate``."""
    from hydra.errors import InstantiationException

    if isinstance(err, UserInputError):
        return err
    if isinstance(err, InstantiationException) and isinstance(err.__cause__, UserInputError):
        return err.__cause__
    return None


def _task_overrides() -> list[str]:
    """The job's Hydra task overrides (its sweep cell, recorded in run.json); [] outside ``@hydra.main``."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _hydra_output_dir() -> Path:
    """Hydra's job output folder inside ``@hydra.main``; the working directory otherwise (tests, notebooks)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path.cwd()


def _run_stages(cfg: DictConfig, run_dir: Path, record: RunRecord) -> None:
    """Build the data and run pretraining and/or alignment as ``cfg.stages`` asks."""
    # Lightning and the stages load here, after check_config: importing them takes ~6 s on the 2-core VM
    # (``lightning`` 8.4 s, ``torch`` alone 2.7-3.2 s; 2026-11-30), which a config typo no longer waits for.
    import lightning as L
    import torch

    from visgen.run.align import align_stage
    from visgen.run.pretrain import pretrain_stage
    from visgen.run.stages import dataset_facts, imagenet_weights_cached

    if torch.cuda.is_available():
        # TF32 for the float32 matmuls left outside autocast (KNN prep, heads): free speed on Ampere+.
        torch.set_float32_matmul_precision("high")
    L.seed_everything(int(cfg.seed), workers=True)
    dm = build_datamodule(cfg)
    check_data(cfg, dm)  # every problem of the data in one message, before decoding or training
    dm.prepare_data()
    dm.setup("fit")
    record.data = dataset_facts(dm)
    record.write()
    write_run_inputs(cfg, dm, run_dir)
    # The anchors before any training: a species without DNA must stop the run now, not after pretraining.
    anchors = build_anchors(cfg, dm.class_names) if "align" in cfg.stages else None
    if "gzsl" in cfg.stages:
        prepare_gzsl_anchors(cfg)
    resume = cfg.ckpt_path
    weights: Path | None = None
    if "pretrain" in cfg.stages:
        weights, trained = pretrain_stage(cfg, dm, run_dir, record, resume)
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
        assert anchors is not None
        align_stage(cfg, dm, run_dir, record, weights, resume, anchors)
    if "rebalance" in cfg.stages and weights is not None:
        from visgen.run.rebalance import rebalance_stage

        rebalance_stage(cfg, dm, run_dir, record, weights)
    if "gzsl" in cfg.stages and weights is not None:  # check_config ensures pretrain runs with gzsl
        from visgen.run.gzsl import gzsl_stage

        gzsl_stage(cfg, dm, run_dir, record, weights)


def build_datamodule(cfg: DictConfig) -> L.LightningDataModule:
    """Instantiate the image data module on the data layout that ``data.source`` names.

    The layout takes its own ``data.*`` keys (``DataLayout.config_keys``); the data module gets the rest. The
    species with DNA (the FASTA's, read with the run's header rule and synonyms) and the synonym table go in
    with it, so the image classes are joined with the DNA by one table before anything is built.
    """
    from visgen.data.layouts import LAYOUTS, layout_keys
    from visgen.genetics.dataset import fasta_species

    data = OmegaConf.to_container(cfg.data, resolve=True)
    cache_dir = Path(cfg.cache_dir) / "data"
    layout = LAYOUTS.get(str(data.get("source"))).from_config(data, cache_dir=cache_dir)
    data = {k: v for k, v in data.items() if k not in layout_keys()}
    fasta, genetics = genetics_options(cfg)
    return instantiate(
        data,
        layout=layout,
        cache_dir=str(cache_dir),
        dna_species=fasta_species(fasta, **genetics),
        synonyms=genetics.get("synonyms") or {},
        # selection=test (protocol=authors): the validation loop, hence checkpoint choice, sees the test split.
        selection=str(cfg.get("selection", "val")),
        _convert_="all",
    )


def write_run_inputs(cfg: DictConfig, dm: Any, run_dir: Path) -> None:
    """Write what a run used beside its results: ``config.yaml`` (resolved; ``visgen predict`` rebuilds the
    net from it) and ``splits.csv`` (``path,species,group,split``; reusable as ``data.manifest``)."""
    from visgen.data.splits import write_splits_csv

    write_config(run_dir, OmegaConf.to_container(cfg, resolve=True))
    index = dm.scan()
    species = [index.class_names[c] for c in index.labels]
    path = write_splits_csv(
        run_dir / SPLITS_CSV, index.paths, species, list(index.groups), list(index.splits)
    )
    log.info("wrote the split (%d images) to %s", len(index.paths), path)
