"""Config checks that run before anything is built: a typo fails in a second with one line, not after pretraining.

``check_config(cfg)`` covers the values that the stages would otherwise reject only when they reach them —
an unknown ``align.anchor_mode`` used to surface as a traceback after the whole pretraining — and spells each
problem as the override that fixes it. Pure and torch-free (OmegaConf containers or plain mappings).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from visgen.data.heldout import check_heldout, check_partition_heldout
from visgen.data.layouts import LAYOUTS
from visgen.errors import UserInputError, is_int, raise_problems
from visgen.eval.knn_settings import knn_index_problems
from visgen.results import STAGES

KNN_METRICS: tuple[str, ...] = ("euclidean", "cosine")
# Protocol switches (conf/protocol/); torch-free copies of visgen.models.backbone.HEADS and
# visgen.lit.align.SAMPLINGS (tests/run/test_protocol_checks.py keeps them equal).
SELECTIONS: tuple[str, ...] = ("val", "test")
HEADS: tuple[str, ...] = ("linear", "two_layer")
SAMPLINGS: tuple[str, ...] = ("m_per_class", "instance_uniform_negative")
#: ``align.objective`` values: the paper's cosine loss to fixed anchors, or InfoNCE with a trained DNA tower.
OBJECTIVES: tuple[str, ...] = ("cosine", "contrastive")
#: ``genetics.source`` values: the FASTA file or a barcode table (visgen.genetics.dataset.open_records).
GENETIC_SOURCES: tuple[str, ...] = ("fasta", "table")
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
    ``metric``, ``k``, ``index`` and ``index_settings``; when alignment runs, ``align.anchor_mode``, ``align.control``, ``align.epochs``,
    ``align.objective`` (and what the contrastive one cannot combine with) and ``align.reuse_features`` (which needs ``data.augment.train=false``); ``genetics.reduce``, ``genetics.medoid_sample`` and ``genetics.source``. The components check their own
    settings, so a new one brings its check with it: the held-out folds (``visgen.data.heldout``), and last,
    because it may look at the disk, the data layout that ``data.source`` names (``DataLayout.problems``:
    ForamSim's knobs, a folder's ``data.root``).
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
    data = _plain(cfg["data"])
    layout = LAYOUTS.get(str(data.get("source", "forams_sim")))
    _count("trainer.max_epochs", cfg["trainer"].get("max_epochs"), 1)
    _count("data.batch_size", data.get("batch_size"), 1)
    _count("data.m_per_class", data.get("m_per_class"), 1)
    _count("data.num_workers", data.get("num_workers"), 0)
    knn = (cfg.get("callbacks") or {}).get("knn_eval")
    if knn is not None:
        _choice("callbacks.knn_eval.metric", knn.get("metric", "euclidean"), KNN_METRICS)
        _count("callbacks.knn_eval.k", knn.get("k"), 1, " (the paper: 5)")
        problems = knn_index_problems(knn)
        if problems:
            raise UserInputError("; ".join(problems))
    _check_protocol(cfg, data)
    if "rebalance" in stages:
        _check_rebalance(cfg, stages)
    if "align" in stages:
        _check_align(cfg["align"], data)
    from visgen.run.checks_gzsl import check_gzsl

    roles = layout.facts.partition_roles
    if roles is not None:  # the data set's partitions name the targets: known after the scan (check_data)
        check_partition_heldout(data, layout.name, roles)
        targets = None
    else:
        targets = check_heldout(data, layout.train_counts(data) if data.get("shots") else None)
    if "gzsl" in stages:
        check_gzsl(cfg, targets, layout)
    _check_encoders(cfg, stages)
    _check_genetics(cfg)
    # Last, so the keys above are checked without touching the disk; before Lightning loads (~6 s) and the scan.
    problems = layout.problems(data)
    if len(problems) == 1:  # it names its key already
        raise UserInputError(problems[0])
    raise_problems(problems, f"data.source={layout.name}")


def _plain(data: Any) -> dict[str, Any]:
    """The ``data`` group as plain values; a mandatory key left unset (``root: ???``) reads as None."""
    if isinstance(data, DictConfig):
        data = OmegaConf.to_container(data, resolve=True, throw_on_missing=False)
    return {k: None if v == "???" else v for k, v in dict(data).items()}


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


def _check_genetics(cfg: Mapping[str, Any]) -> None:
    """``genetics.reduce``, ``genetics.medoid_sample``, ``genetics.source`` and, for a barcode table, its file and
    column names (the header row only)."""
    genetics = cfg.get("genetics")
    if genetics is None:
        return
    from visgen.genetics.stream import DEFAULT_MEDOID_BOUND, reduce_problems

    problems = reduce_problems(
        genetics.get("reduce", "mean"), genetics.get("medoid_sample", DEFAULT_MEDOID_BOUND)
    )
    if problems:
        raise UserInputError("; ".join(problems))
    source = genetics.get("source", "fasta")
    _choice("genetics.source", source, GENETIC_SOURCES)
    if source == "table":
        from visgen.genetics.table import table_problems

        table = genetics.get("table") or {}
        if isinstance(table, DictConfig):
            table = OmegaConf.to_container(table, resolve=True)
        if not table.get("path"):  # the data set's own barcodes, where its layout has them
            data = _plain(cfg["data"])
            layout = LAYOUTS.get(str(data.get("source", "forams_sim")))
            own = layout.barcode_table_of(data)
            if own is None and layout.problems(data):
                return  # e.g. data.root unset: the layout's own line (check_config's last) says so first
            table = own or table
        raise_problems(table_problems(table), "genetics.source=table")


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
    objective = align.get("objective", "cosine")
    _choice("align.objective", objective, OBJECTIVES)
    if objective == "contrastive":
        _check_contrastive(align)
    if align.get("reuse_features") and (data.get("augment") or {}).get("train", True):
        raise UserInputError(
            "align.reuse_features=true needs data.augment.train=false: with augmentation the cache would keep "
            "one random view per training image"
        )


def _check_contrastive(align: Mapping[str, Any]) -> None:
    """What ``align.objective=contrastive`` cannot combine with: the cosine objective's own switches."""
    if align.get("sampling", "m_per_class") != "m_per_class":
        raise UserInputError(
            f"align.sampling={align['sampling']}: align.objective=contrastive pairs each image with a DNA sequence, "
            "not with a negative image; use align.sampling=m_per_class"
        )
    if align.get("reuse_features"):
        raise UserInputError(
            "align.reuse_features=true: not implemented for align.objective=contrastive; use align.reuse_features=false"
        )
    if float(align.get("ce_weight", 0.0)) != 0:
        raise UserInputError(
            f"align.ce_weight={align['ce_weight']}: the contrastive objective leaves the classifier frozen; "
            "use align.ce_weight=0"
        )
    options = align.get("contrastive") or {}
    _count("align.contrastive.kmer", options.get("kmer"), 1, " (e.g. 5)")
    if options.get("kmer") is not None and options["kmer"] > 8:
        raise UserInputError(
            f"align.contrastive.kmer={options['kmer']}: at most 8 (the tower has a vector per k-mer, 4^k); e.g. 5"
        )
    _count("align.contrastive.hidden", options.get("hidden"), 1)
