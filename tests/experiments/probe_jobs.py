"""Helpers for the tests of experiments/paper_table/*.py: load a script as a module, write a job folder."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str) -> ModuleType:
    """``experiments/paper_table/<name>.py`` as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / "paper_table" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_job(
    root: Path,
    name: str,
    seed: int,
    stages: dict[str, dict[str, np.ndarray]],
    data: dict[str, Any],
    per_species: list[dict[str, Any]] | None = None,
) -> Path:
    """A finished job as ``python run.py`` leaves it: config, run.json, and per stage metrics.json,
    embeddings.npz (``stages[stage]``) and, if given, per_species.csv."""
    job = root / name / f"lambda{data.get('phylo_signal', 1.0)}_seed{seed}"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text(
        yaml.safe_dump({"name": name, "seed": seed, "stages": list(stages)})
    )
    (job / "run.json").write_text(json.dumps({"name": name, "seed": seed, "status": "ok", "data": data}))
    for stage, emb in stages.items():
        (job / stage).mkdir()
        (job / stage / "metrics.json").write_text(json.dumps({"test/knn/acc": 0.5}))
        np.savez(job / stage / "embeddings.npz", **emb)
        if per_species is not None:
            with (job / stage / "per_species.csv").open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(per_species[0]))
                writer.writeheader()
                writer.writerows(per_species)
    return job
