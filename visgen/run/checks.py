"""Config checks that run before anything is built: a typo fails in a second with one line, not after pretraining.

``check_config(cfg)`` covers the values that the stages would otherwise reject only when they reach them —
an unknown ``align.anchor_mode`` used to surface as a traceback after the whole pretraining — and spells each
problem as the override that fixes it. Pure and torch-free (OmegaConf containers or plain mappings).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf.errors import MissingMandatoryValue

from visgen.data.layouts.folder import require_image_root
from visgen.errors import UserInputError
from visgen.results import STAGES
from visgen.sim.settings import check_config_data, config_keys, is_int

#: data.* keys that describe ForamSim -> ``SimSettings`` field (the data module's ``sim`` dict), from the dataclass.
SIM_KEYS: dict[str, str] = config_keys()
KNN_METRICS: tuple[str, ...] = ("euclidean", "cosine")
# Protocol switches (conf/protocol/); torch-free copies of visgen.models.backbone.HEADS and
# visgen.lit.align.SAMPLINGS (tests/run/test_protocol_checks.py keeps them equal).
SELECTIONS: tuple[str, ...] = ("val", "test")
HEADS: tuple[str, ...] = ("linear", "two_layer")
SAMPLINGS: tuple[str, ...] = ("m_per_class", "instance_uniform_negative")
# Torch-free copy of visgen.eval.rebalance.METHODS (the same test keeps them equal).
REBALANCE_METHODS: tuple[str, ...] = ("plain", "crt", "tau_norm", "logit_adjust", "ncm")


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
    ``metric`` and ``k``; when alignment runs, ``align.anchor_mode``, ``align.control``, ``align.epochs`` and
    ``align.reuse_features`` (which needs ``data.augment.train=false``); last, that a folder dataset's
    ``data.root`` is set and is a folder.
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
        check_config_data(data)
    knn = (cfg.get("callbacks") or {}).get("knn_eval")
    if knn is not None:
        _choice("callbacks.knn_eval.metric", knn.get("metric", "euclidean"), KNN_METRICS)
        _count("callbacks.knn_eval.k", knn.get("k"), 1, " (the paper: 5)")
    _check_protocol(cfg, data)
    if "rebalance" in stages:
        _check_rebalance(cfg, stages)
    if "align" in stages:
        _check_align(cfg["align"], data)
    from visgen.run.checks_gzsl import check_gzsl, check_heldout

    targets = check_heldout(data)
    if "gzsl" in stages:
        check_gzsl(cfg, targets)
    _check_encoders(cfg, stages)
    # Last, so the keys above are checked without touching the disk; before Lightning loads (~6 s) and the scan.
    if data.get("source", "forams_sim") == "folder":
        try:
            require_image_root(data.get("root"))
        except MissingMandatoryValue:  # data=endless_forams without data.root (``root: ???``)
            require_image_root(None)


def _check_encoders(cfg: Mapping[str, Any], stages: list[str]) -> None:
    """The DNA encoders' own settings (``DnaEncoder.problems``): the run's and each of ``gzsl.encoders``."""
    if cfg.get("genetics") is None or not ({"align", "gzsl"} & set(stages)):
        return
    from omegaconf import DictConfig, OmegaConf

    from visgen.run.anchors import build_encoder

    conf = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    if "align" in stages:
        build_encoder(conf)
    if "gzsl" in stages:
        for name in conf.gzsl.encoders:
            build_encoder(conf, str(name))


def _check_rebalance(cfg: Mapping[str, Any], stages: list[str]) -> None:
    """The rebalance stage needs a pretraining in the same run and a known method."""
    if "pretrain" not in stages or "align" in stages:
        raise UserInputError(
            f"stages={stages}: the rebalance stage runs on this run's pretraining instead of an alignment; "
            "use stages=[pretrain, rebalance]"
        )
    rebalance = cfg["rebalance"]
    _choice("rebalance.method", rebalance["method"], REBALANCE_METHODS)
    _count("rebalance.epochs", rebalance.get("epochs"), 1)
    _count("rebalance.batch_size", rebalance.get("batch_size"), 1)
    if not list(rebalance.get("tau_grid") or []):
        raise UserInputError("rebalance.tau_grid=[]: give at least one τ, e.g. rebalance.tau_grid=[0,0.5,1]")


def _check_protocol(cfg: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """The protocol switches: ``selection``, ``model.head``, ``data.greyscale`` (``align.sampling`` with align)."""
    _choice("selection", cfg.get("selection", "val"), SELECTIONS)
    _choice("model.head", (cfg.get("model") or {}).get("head", "linear"), HEADS)
    if data.get("greyscale", True) is not True:
        raise UserInputError(
            f"data.greyscale={data.get('greyscale')}: images are always decoded to grey (colour input is not "
            "implemented); use data.greyscale=true"
        )


def _check_align(align: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    from visgen.genetics.anchors import ANCHOR_MODES, CONTROLS

    _choice("align.anchor_mode", align["anchor_mode"], ANCHOR_MODES)
    _choice("align.control", align["control"], CONTROLS)
    _choice("align.sampling", align.get("sampling", "m_per_class"), SAMPLINGS)
    _count("align.epochs", align["epochs"], 1, " (the paper: 5)")
    if align.get("reuse_features") and (data.get("augment") or {}).get("train", True):
        raise UserInputError(
            "align.reuse_features=true needs data.augment.train=false: with augmentation the cache would keep "
            "one random view per training image"
        )
