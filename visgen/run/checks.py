"""Config checks that run before anything is built: a typo fails in a second with one line, not after pretraining.

``check_config(cfg)`` covers the values that the stages would otherwise reject only when they reach them —
an unknown ``align.anchor_mode`` used to surface as a traceback after the whole pretraining — and spells each
problem as the override that fixes it. Pure and torch-free (OmegaConf containers or plain mappings).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visgen.errors import UserInputError
from visgen.images.sim_args import check_args, is_int

#: data.* keys that describe ForamSim -> ``forams_sim.simulate``'s argument (the data module's ``sim`` dict).
SIM_KEYS: dict[str, str] = {
    "scale": "scale",
    "phylo_signal": "phylo_signal",
    "sim_seed": "seed",
    "sim_size": "size",
    "sim_intra_spread": "intra_spread",
    "sim_nuisance": "nuisance",
    "sim_test_floor": "test_floor",
    "sim_convergent": "convergent",
    "sim_convergent_skip": "convergent_skip",
}
STAGES: tuple[str, ...] = ("pretrain", "align", "gzsl")
KNN_METRICS: tuple[str, ...] = ("euclidean", "cosine")


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UserInputError(f"{key}={value}: unknown value; use one of {', '.join(allowed)}")


def _count(key: str, value: Any, least: int, hint: str = "") -> None:
    """``value`` (None = not configured) must be an integer >= ``least``."""
    if value is not None and not (is_int(value) and value >= least):
        raise UserInputError(f"{key}={value}: must be an integer >= {least}{hint}")


def check_config(cfg: Mapping[str, Any]) -> None:
    """Raise ``UserInputError`` (one line: the key, the value, the fix) for a config the run cannot use.

    Checks: ``seed`` is an integer; ``stages`` is a non-empty subset of pretrain/align; ``ckpt_path`` is an
    existing file; epoch, batch and worker counts; ForamSim's ``data.*`` knobs are in range; the KNN callback's
    ``metric`` and ``k``; and, when alignment runs, ``align.anchor_mode``, ``align.control``, ``align.epochs``
    and ``align.reuse_features`` (which needs ``data.augment.train=false``).
    """
    if not is_int(cfg["seed"]):
        raise UserInputError(f"seed={cfg['seed']}: the seed must be an integer, e.g. seed=0")
    stages = list(cfg["stages"] or [])
    unknown = sorted(set(stages) - set(STAGES))
    if unknown or not stages:
        raise UserInputError(
            f"stages={stages}: unknown stage(s) {unknown}; use [pretrain], [align], [pretrain, align] or "
            "[pretrain, gzsl]"
        )
    ckpt = cfg.get("ckpt_path")
    if ckpt is not None and not Path(str(ckpt)).is_file():
        raise UserInputError(
            f"ckpt_path={ckpt}: no such checkpoint file; pass a last.ckpt from an interrupted run's folder"
        )
    data = cfg["data"]
    _count("trainer.max_epochs", cfg["trainer"].get("max_epochs"), 1)
    _count("data.batch_size", data.get("batch_size"), 1)
    _count("data.m_per_class", data.get("m_per_class"), 1)
    _count("data.num_workers", data.get("num_workers"), 0)
    if data.get("source", "forams_sim") == "forams_sim":
        given = {arg: data[key] for key, arg in SIM_KEYS.items() if key in data and arg != "seed"}
        check_args("config", {arg: f"data.{key}" for key, arg in SIM_KEYS.items()}, **given)
    knn = (cfg.get("callbacks") or {}).get("knn_eval")
    if knn is not None:
        _choice("callbacks.knn_eval.metric", knn.get("metric", "euclidean"), KNN_METRICS)
        _count("callbacks.knn_eval.k", knn.get("k"), 1, " (the paper: 5)")
    if "align" in stages:
        _check_align(cfg["align"], data)
    from visgen.run.checks_gzsl import check_gzsl, check_heldout

    targets = check_heldout(data)
    if "gzsl" in stages:
        check_gzsl(cfg, targets)


def _check_align(align: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    from visgen.genetics.anchors import ANCHOR_MODES, CONTROLS

    _choice("align.anchor_mode", align["anchor_mode"], ANCHOR_MODES)
    _choice("align.control", align["control"], CONTROLS)
    _count("align.epochs", align["epochs"], 1, " (the paper: 5)")
    if align.get("reuse_features") and (data.get("augment") or {}).get("train", True):
        raise UserInputError(
            "align.reuse_features=true needs data.augment.train=false: with augmentation the cache would keep "
            "one random view per training image"
        )
