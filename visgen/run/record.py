"""The accuracy table a run prints at its end (the run's files are written through ``visgen.results``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from visgen.results import read_metrics

# (column title, metrics.json key) of the table printed at the end of a run.
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("overall", "test/knn/acc"),
    ("per-class", "test/knn/per_class_acc"),
    ("rare", "test/knn/rare_acc"),
)
_LABELS = {"pretrain": "after pretraining", "align": "after alignment", "rebalance": "after rebalancing"}


def format_table(rows: Mapping[str, Mapping[str, Any]], *, title: str) -> str:
    """Format the final accuracy table (percent, one row per finished stage).

    Args:
        rows: ``{"after pretraining": metrics, "after alignment": metrics}`` (metrics.json contents).
        title: the line above the table (experiment, profile, seed); the KNN's k, read from the metrics, follows.

    Returns:
        A plain-text table, e.g. ``after alignment   |   81.2 |      54.0 |  40.1``.
    """
    ks = sorted({str(m["k"]) for m in rows.values() if m.get("k") is not None})
    title = f"{title} | KNN k={'/'.join(ks) or '?'} test accuracy (%)"
    heads = [head for head, _ in TABLE_COLUMNS]
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
    rows = {}
    for stage in stages:
        metrics = read_metrics(run_dir / stage)
        if metrics:
            rows[_LABELS.get(stage, stage)] = metrics
    return rows
