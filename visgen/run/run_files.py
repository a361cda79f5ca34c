"""Find the files of a trained stage: config, best checkpoint, the KNN callback's embeddings and metrics.

The only place ``visgen predict`` / ``visgen embed`` find a run folder's files; ``run.json``, ``metrics.json`` and the
file names are read through ``visgen.results`` (the run-folder schema). Torch-free.

A run folder holds ``config.yaml`` (resolved; Hydra's ``.hydra/config.yaml`` is the fallback), ``run.json``
(each stage's ``best`` checkpoint, or a reused pretraining's ``cache``) and per stage ``embeddings.npz`` and
``metrics.json``. A checkpoint given directly is looked up from its folder: ``<stage>/checkpoints/best.ckpt``
in a run folder, or ``best.ckpt`` in a pretraining cache entry (which holds its outputs and config too).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from visgen.errors import UserInputError
from visgen.results import EMBEDDINGS_NPZ, RunRecord, read_config, read_metrics

STAGE_ORDER = ("align", "pretrain")  # the last stage that ran is the model a user wants


@dataclass(frozen=True)
class RunFiles:
    """The files of one trained stage.

    Attributes:
        stage_dir: folder with ``embeddings.npz`` and ``metrics.json``.
        checkpoint: the best-on-validation Lightning checkpoint.
        embeddings: ``embeddings.npz`` (the callback's gallery and test embeddings).
        config: the resolved run config (plain dict).
        metrics: ``metrics.json`` contents (``k``, ``metric``, accuracies).
    """

    stage_dir: Path
    checkpoint: Path
    embeddings: Path
    config: dict[str, Any]
    metrics: dict[str, Any]


def _config(folders: list[Path]) -> dict[str, Any]:
    for folder in folders:
        config = read_config(folder)
        if config is not None:
            # Hydra's own copy keeps its interpolations: resolve them.
            return OmegaConf.to_container(OmegaConf.create(config), resolve=True)  # type: ignore[return-value]
    raise UserInputError(
        f"{folders[0]}: no config.yaml (or .hydra/config.yaml) here or above; pass a run folder written by run.py"
    )


def _checkpoint_of(run_dir: Path, stage: str) -> Path:
    info = RunRecord.read(run_dir).stages.get(stage) or {}
    for candidate in (info.get("best"), info.get("cache") and str(Path(info["cache"]) / "best.ckpt"),
                      str(run_dir / stage / "checkpoints" / "best.ckpt")):  # fmt: skip
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise UserInputError(f"{run_dir}: no best checkpoint of the {stage} stage found; was the run completed?")


def read_run_files(path: Path) -> RunFiles:
    """The files behind a run folder (its last stage) or behind a checkpoint file.

    Raises:
        UserInputError: not a run folder or checkpoint, or a stage without its outputs.
    """
    if path.is_dir():
        stage = next((s for s in STAGE_ORDER if (path / s / EMBEDDINGS_NPZ).is_file()), None)
        if stage is None:
            raise UserInputError(
                f"{path}: no align/ or pretrain/ embeddings.npz; pass a finished run folder or a .ckpt"
            )
        stage_dir, checkpoint, config_dirs = path / stage, _checkpoint_of(path, stage), [path]
    elif path.is_file():
        checkpoint = path
        stage_dir = next(
            (d for d in (path.parent, path.parent.parent) if (d / EMBEDDINGS_NPZ).is_file()), None
        )
        if stage_dir is None:
            raise UserInputError(
                f"{path}: no embeddings.npz beside the checkpoint or one folder up; pass the run folder instead"
            )
        config_dirs = [path.parent, path.parent.parent, path.parent.parent.parent]
    else:
        raise UserInputError(f"{path}: no such run folder or checkpoint")
    return RunFiles(
        stage_dir, checkpoint, stage_dir / EMBEDDINGS_NPZ, _config(config_dirs), read_metrics(stage_dir)
    )
