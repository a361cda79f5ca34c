"""What a run leaves besides the stage folders: ``run.json`` and the final accuracy table."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visgen.run.machine import describe_machine

# (column title, metrics.json key) of the table printed at the end of a run.
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("overall", "test/knn/acc"),
    ("per-class", "test/knn/per_class_acc"),
    ("rare", "test/knn/rare_acc"),
)


@dataclass
class RunRecord:
    """The contents of ``<run_dir>/run.json``, written whatever happens to the run.

    Attributes:
        run_dir: the run folder.
        name: experiment name.
        profile: compute profile (``quick``/``paper``).
        seed: the global seed (as given: a non-integer one is recorded, then refused by ``check_config``).
        status: ``running`` → ``ok`` | ``failed`` | ``unavailable``.
        error: one-line reason for a non-ok status.
        data: dataset facts (``dataset.json`` of the image source plus class counts).
        stages: per stage: ``wall_s``, ``reused``, checkpoint paths.
        started: start time (epoch seconds).
        machine: host, CPU, GPU and torch version (``describe_machine``).
        protocol: the protocol switches (``pipeline.protocol_facts``); ``selection`` = ``"test"`` marks
            checkpoints chosen on the test split.
    """

    run_dir: Path
    name: str
    profile: str
    seed: int | str
    status: str = "running"
    error: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    machine: str = field(default_factory=describe_machine)
    protocol: dict[str, Any] = field(default_factory=dict)

    def fail(self, err: BaseException) -> None:
        """Record a failure as one line: exception type and message."""
        self.status = "failed"
        self.error = f"{type(err).__name__}: {' '.join(str(err).split())}"

    def write(self) -> Path:
        """Write ``run.json`` (atomically, so ``visgen report`` never reads half a file)."""
        payload = {
            "name": self.name,
            "profile": self.profile,
            "seed": self.seed,
            "status": self.status,
            "error": self.error,
            "data": self.data,
            "stages": self.stages,
            "wall_s": round(time.time() - self.started, 2),
            "machine": self.machine,
            "python": platform.python_version(),
        }
        if self.protocol:
            payload["protocol"] = self.protocol
            payload["selection"] = self.protocol.get("selection", "val")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "run.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2, default=str))
        os.replace(tmp, path)
        return path


def annotate_metrics(path: Path, **extra: Any) -> dict[str, Any]:
    """Add run facts (``profile``, ``stage``) to a stage's ``metrics.json`` unless already present.

    Args:
        path: a ``metrics.json`` written by ``KnnEvalCallback``.
        **extra: keys to add.

    Returns:
        The metrics after annotation.
    """
    metrics = json.loads(path.read_text())
    for key, value in extra.items():
        metrics.setdefault(key, value)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def format_table(rows: Mapping[str, Mapping[str, Any]], *, title: str) -> str:
    """Format the final accuracy table (percent, one row per finished stage).

    Args:
        rows: ``{"after pretraining": metrics, "after alignment": metrics}`` (metrics.json contents).
        title: the line above the table (experiment, profile, seed).

    Returns:
        A plain-text table, e.g. ``after alignment   |   81.2 |      54.0 |  40.1``.
    """
    heads = [title for title, _ in TABLE_COLUMNS]
    width = max([len("stage"), *(len(r) for r in rows)])
    lines = [title, f"{'stage':<{width}} | " + " | ".join(f"{h:>9}" for h in heads)]
    lines.append("-" * len(lines[-1]))
    for label, metrics in rows.items():
        cells = [_percent(metrics.get(key)) for _, key in TABLE_COLUMNS]
        lines.append(f"{label:<{width}} | " + " | ".join(f"{c:>9}" for c in cells))
    return "\n".join(lines)


def _percent(value: Any) -> str:
    """Render a fraction as a percentage with one decimal; missing/NaN as ``-``."""
    if value is None or value != value:  # NaN != NaN: a metric with no eligible class (e.g. no rare species)
        return "-"
    return f"{100.0 * float(value):.1f}"


def stage_rows(run_dir: Path, stages: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Read the stages' ``metrics.json`` files that exist, labelled for the final table."""
    labels = {"pretrain": "after pretraining", "align": "after alignment", "rebalance": "after rebalancing"}
    rows = {}
    for stage in stages:
        path = run_dir / stage / "metrics.json"
        if path.is_file():
            rows[labels.get(stage, stage)] = json.loads(path.read_text())
    return rows
