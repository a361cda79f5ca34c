"""The files of a run folder: names, and the one writer and reader of each (pure, torch-free).

A run folder (docs/design.md, "Run directory") holds ``run.json``, ``config.yaml`` (the resolved config),
``splits.csv`` (its format is the manifest's: ``visgen.data.splits``) and one folder per stage with
``metrics.json``, ``embeddings.npz`` and ``per_species.csv`` (``align/`` also ``anchors.npy``). Every piece of
visgen that writes or reads these files does it through the functions here, so a format lives in one place.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

log = logging.getLogger(__name__)

#: The stages of a run, in the order they run; a stage's outputs live in ``<run_dir>/<stage>/``.
STAGES: tuple[str, ...] = ("pretrain", "align", "rebalance", "gzsl")
RUN_JSON = "run.json"
METRICS_JSON = "metrics.json"
EMBEDDINGS_NPZ = "embeddings.npz"
PER_SPECIES_CSV = "per_species.csv"
ANCHORS_NPY = "anchors.npy"
#: The resolved config of a run (``visgen predict`` rebuilds the net from it); a pretraining cache entry has one too.
CONFIG_YAML = "config.yaml"
#: Every image of a run with its split (``path,species,group,split``): reusable as ``data.manifest``.
SPLITS_CSV = "splits.csv"
#: What a finished stage's test leaves (the pretraining cache copies these into each run folder).
STAGE_OUTPUTS: tuple[str, ...] = (METRICS_JSON, EMBEDDINGS_NPZ, PER_SPECIES_CSV)
#: Columns of ``per_species.csv`` (one row per species).
PER_SPECIES_FIELDS: tuple[str, ...] = ("species", "n_train", "bucket", "rare", "n_test", "acc")
#: Arrays of ``embeddings.npz``: gallery = training images, queries = test images, each sorted by index.
EMBEDDING_ARRAYS: tuple[str, ...] = (
    "gallery_embeddings", "gallery_labels", "gallery_index",
    "query_embeddings", "query_labels", "query_index", "query_extra", "species",
)  # fmt: skip


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` as JSON through a temporary file and a rename, so no reader sees half a file.

    The temporary name carries the process id: DDP ranks may rewrite the same file at once.
    """
    return _write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def _write_text_atomic(path: Path, text: str) -> Path:
    """``text`` into ``path`` through a temporary file (named with the process id) and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's object, or None (logged) when it is absent or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        log.warning("unreadable %s (%s)", path, err)
        return None


# -- config.yaml ----------------------------------------------------------------------------------------------
def write_config(folder: Path, config: Mapping[str, Any]) -> Path:
    """Write ``<folder>/config.yaml`` from a resolved, plain config (``OmegaConf.to_container(cfg, resolve=True)``)."""
    return _write_text_atomic(Path(folder) / CONFIG_YAML, yaml.safe_dump(dict(config), sort_keys=False))


def read_config(folder: Path) -> dict[str, Any] | None:
    """``<folder>/config.yaml``, else Hydra's ``<folder>/.hydra/config.yaml`` (unresolved); None when neither is."""
    for path in (Path(folder) / CONFIG_YAML, Path(folder) / ".hydra" / CONFIG_YAML):
        if path.is_file():
            try:
                return yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as err:
                log.warning("unreadable %s (%s)", path, err)
    return None


# -- metrics.json --------------------------------------------------------------------------------------------
def write_metrics(stage_dir: Path, metrics: Mapping[str, Any]) -> Path:
    """Write ``<stage_dir>/metrics.json``; NaN (an undefined metric, e.g. no rare class) becomes null."""
    clean = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in metrics.items()}
    return write_json_atomic(Path(stage_dir) / METRICS_JSON, clean)


def read_metrics(stage_dir: Path) -> dict[str, Any]:
    """``<stage_dir>/metrics.json`` as written (metric values and facts such as ``k``); {} when absent."""
    path = Path(stage_dir) / METRICS_JSON
    return (read_json(path) or {}) if path.is_file() else {}


def annotate_metrics(stage_dir: Path, **extra: Any) -> dict[str, Any]:
    """Add run facts (``profile``, ``stage``) to a stage's ``metrics.json`` unless already present.

    Returns:
        The metrics after annotation.
    """
    metrics = read_metrics(stage_dir)
    for key, value in extra.items():
        metrics.setdefault(key, value)
    write_metrics(stage_dir, metrics)
    return metrics


def metric_values(raw: Mapping[str, Any]) -> dict[str, float]:
    """The metric entries of a metrics.json: numeric values under ``{stage}/{family}/...`` keys (null -> NaN); the
    facts beside them (``k``, ``n_queries``, ``rare_species`` ...) have no ``/`` and are left out."""
    return {
        k: (math.nan if v is None else float(v))
        for k, v in raw.items()
        if "/" in k and (v is None or (isinstance(v, int | float) and not isinstance(v, bool)))
    }


# -- embeddings.npz ------------------------------------------------------------------------------------------
def write_embeddings(stage_dir: Path, **arrays: np.ndarray) -> Path:
    """Write ``<stage_dir>/embeddings.npz`` (keys from ``EMBEDDING_ARRAYS``)."""
    unknown = set(arrays) - set(EMBEDDING_ARRAYS) - {"anchors"}
    if unknown:
        raise ValueError(f"embeddings.npz: unknown array(s) {sorted(unknown)}")
    path = Path(stage_dir) / EMBEDDINGS_NPZ
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def read_embeddings(stage_dir: Path) -> dict[str, np.ndarray] | None:
    """``<stage_dir>/embeddings.npz`` as a dict of arrays (loaded, file closed), or None when absent."""
    path = Path(stage_dir) / EMBEDDINGS_NPZ
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# -- per_species.csv -----------------------------------------------------------------------------------------
def write_per_species(stage_dir: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``<stage_dir>/per_species.csv`` (columns ``PER_SPECIES_FIELDS``)."""
    path = Path(stage_dir) / PER_SPECIES_CSV
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(PER_SPECIES_FIELDS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_per_species(stage_dir: Path) -> list[dict[str, str]]:
    """The rows of ``<stage_dir>/per_species.csv`` as strings (``[]`` when absent)."""
    path = Path(stage_dir) / PER_SPECIES_CSV
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def per_species_accuracy(stage_dir: Path) -> dict[str, tuple[float, float]]:
    """``{species: (n_train, acc)}`` from ``per_species.csv`` (acc as a fraction; species without acc left out)."""
    return {
        r["species"]: (float(r["n_train"]), float(r["acc"]))
        for r in read_per_species(stage_dir)
        if r.get("acc") not in (None, "", "nan")
    }


# -- anchors.npy ---------------------------------------------------------------------------------------------
def write_anchors(stage_dir: Path, anchors: np.ndarray) -> Path:
    """Save the alignment targets [C, D] (row c = class c) beside the stage's outputs."""
    path = Path(stage_dir) / ANCHORS_NPY
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(anchors, dtype=np.float32))
    return path


def read_anchors(stage_dir: Path) -> np.ndarray | None:
    """The anchors a stage aligned to [C, D]: ``embeddings.npz``'s ``anchors`` or ``anchors.npy``; None if neither."""
    z = read_embeddings(stage_dir)
    if z is not None and "anchors" in z:
        return z["anchors"]
    path = Path(stage_dir) / ANCHORS_NPY
    return np.load(path, allow_pickle=False) if path.is_file() else None


def read_training_log(stage_dir: Path) -> list[dict[str, str]]:
    """The rows of a stage's Lightning CSV log (``<stage>/csv/version_*/metrics.csv``, the newest version), as
    written: one row per logging step, empty strings where a step logged nothing; [] without a log."""
    paths = sorted(
        Path(stage_dir).glob("csv/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[-1])
    )
    if not paths:
        return []
    with paths[-1].open(newline="") as fh:
        return list(csv.DictReader(fh))


#: A GZSL stage's permutation draws (``visgen/run/gzsl.py``), one array per scored anchor/method: [permutations].
PERMUTATION_NULL_NPZ = "null.npz"


def write_permutation_null(stage_dir: Path, draws: Mapping[str, np.ndarray]) -> Path:
    """Write a stage's permutation-null draws (``{name: [n_permutations]}``) beside its ``metrics.json``."""
    path = Path(stage_dir) / PERMUTATION_NULL_NPZ
    np.savez(path, **{k: np.asarray(v) for k, v in draws.items()})
    return path


def read_permutation_null(stage_dir: Path) -> dict[str, np.ndarray]:
    """A stage's permutation-null draws; {} when the stage wrote none."""
    path = Path(stage_dir) / PERMUTATION_NULL_NPZ
    if not path.is_file():
        return {}
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
