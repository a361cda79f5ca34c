"""Fixture multirun folders with known metrics, laid out as docs/design.md's "Run directory"."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

SPECIES = ["Genus_alpha", "Genus_beta", "Genus_gamma", "Genus_delta"]
N_TRAIN = [400, 150, 60, 8]  # many, many, medium, few at full scale


def metrics_of(acc: float, rare: float, **more: float) -> dict[str, float]:
    """A metrics.json body: overall ``acc`` and ``rare``; other families default to ``acc``."""
    out = {f"test/knn/{k}": acc for k in ("acc", "per_class_acc", "many_acc", "medium_acc", "few_acc")}
    out["test/knn/rare_acc"] = rare
    out.update({f"test/knn/{k}": v for k, v in more.items()})
    return out


def _embeddings(rng: np.random.Generator, n_per: int, dim: int = 8) -> dict[str, np.ndarray]:
    # Well-separated clusters: class c sits around 5 * e_c, so KNN is near perfect.
    centres = 5.0 * np.eye(len(SPECIES), dim)
    lab_g = np.repeat(np.arange(len(SPECIES)), n_per)
    lab_q = np.repeat(np.arange(len(SPECIES)), max(2, n_per // 3))
    return {
        "gallery_embeddings": (centres[lab_g] + rng.normal(0, 0.3, (len(lab_g), dim))).astype(np.float32),
        "gallery_labels": lab_g,
        "query_embeddings": (centres[lab_q] + rng.normal(0, 0.3, (len(lab_q), dim))).astype(np.float32),
        "query_labels": lab_q,
        "species": np.array(SPECIES),
    }


def make_job(
    root: Path,
    name: str,
    seed: int,
    lam: float | None = 1.0,
    *,
    status: str | None = "ok",
    metrics: dict[str, float] | None = None,
    stages: Sequence[str] = ("pretrain",),
    per_species_acc: Sequence[float] | None = None,
    with_outputs: bool = False,
    anchors: bool = True,
    error: str = "",
) -> Path:
    """Write one job folder; ``status=None`` leaves out run.json (a job that died before writing it)."""
    job = root / name / f"lambda{lam}_seed{seed}"
    (job / ".hydra").mkdir(parents=True)
    cfg = {
        "name": name,
        "seed": seed,
        "stages": list(stages),
        "data": {"phylo_signal": lam},
        "profile": {"name": "quick"},
    }
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    if status is None:
        return job
    data = {"source": "forams_sim", "synthetic": True, "scale": 0.1, "size": 64, "phylo_signal": lam}
    data.update({"intra_spread": 0.5, "nuisance": 1.0, "generator_version": "2"})
    run = {"name": name, "profile": "quick", "seed": seed, "status": status, "error": error, "data": data}
    run.update({"wall_s": 60.0, "machine": "fixture-host"})
    (job / "run.json").write_text(json.dumps(run))
    if status != "ok":
        return job
    rng = np.random.default_rng(seed)
    for stage in stages:
        (job / stage).mkdir()
        facts = {"stage": stage, "k": 5, "metric": "euclidean"}  # as KnnEvalCallback records them
        (job / stage / "metrics.json").write_text(json.dumps({**(metrics or {}), **facts}))
        if per_species_acc is not None:
            with (job / stage / "per_species.csv").open("w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["species", "n_train", "bucket", "rare", "n_test", "acc"])
                for sp, n, a in zip(SPECIES, N_TRAIN, per_species_acc, strict=True):
                    w.writerow([sp, n, "many", n <= 100, 10, a])
        if with_outputs:
            z = _embeddings(rng, 12)
            if stage == "align" and anchors:
                z["anchors"] = rng.normal(size=(len(SPECIES), 8))
            np.savez(job / stage / "embeddings.npz", **z)
    return job


def write_multirun_yaml(
    root: Path, experiments: str, seeds: str, lams: str, task: Sequence[str] = ()
) -> None:
    """The sweep's ``multirun.yaml`` as Hydra's basic sweeper saves it (only the keys the report reads)."""
    params = {"+experiment": experiments, "seed": seeds, "data.phylo_signal": lams}
    cfg: dict[str, Any] = {"hydra": {"sweeper": {"params": params}, "overrides": {"task": list(task)}}}
    (root / "multirun.yaml").write_text(yaml.safe_dump(cfg))
