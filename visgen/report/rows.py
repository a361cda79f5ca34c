"""The rows of the paper table: jobs grouped by experiment, λ and every other varied axis, summarised over seeds
(pure, torch-free). Seeds are the replicates; any other key the jobs vary (``visgen.results.varying_axes``:
ForamSim draw, fold, k, anchor type ...) becomes a column, so several draws are one table.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from visgen.results import REPLICATE, RunRecord, group, varying_axes
from visgen.results.sweep import FIXED_AXES

#: The metric families of the paper table, as keys of ``metrics.json`` without the ``test/knn/`` prefix.
METRICS: tuple[str, ...] = ("acc", "per_class_acc", "rare_acc", "many_acc", "medium_acc", "few_acc")
#: Diagnostics beside the paper's KNN, as ``{name: metrics.json key}``; a table shows them when a run has them.
DIAGNOSTICS: dict[str, str] = {
    "ncm_rare_acc": "test/ncm/rare_acc",
    # The rebalancing rows' own classifier (visgen/run/rebalance.py), scored by the same metric function.
    "clf_per_class_acc": "test/clf/per_class_acc",
    "clf_rare_acc": "test/clf/rare_acc",
}
#: Where the KNN's errors land (``visgen.eval.mistakes``), as ``{name: metrics.json key}``: every table shows them,
#: with "–" for runs evaluated before they existed.
OUTCOMES: dict[str, str] = {
    "genus_per_class_acc": "test/knn/genus_per_class_acc",
    "error_tree_dist": "test/knn/error_tree_dist",
}
#: Metrics that are not fractions: kept as they are instead of as percentages.
UNSCALED: frozenset[str] = frozenset({"error_tree_dist"})
#: Row order: the paper's Table 1 (rows 1-7), then Fig. 9a, then our variants and controls.
TABLE_ORDER: tuple[str, ...] = (
    "tl", "tl_softmax", "rtl", "rtl_softmax", "baseline", "ltr", "align", "ltr_align",
    "imagenet_align", "wb", "wb_align", "ltr_align_shuffled", "ltr_align_random", "ltr_align_centred",
    "ltr_contrastive",
)  # fmt: skip


@dataclass
class TableRow:
    """One line of the table: an experiment at one λ (and one value of each other varied axis), over its seeds."""

    name: str
    phylo_signal: float | None
    stage: str | None
    seeds: list[int | None]
    statuses: Counter[str]
    #: the other varied axes of this row, ``{"data.sim_seed": "1"}`` (``AXIS_TITLES`` names their columns)
    axes: dict[str, str | None] = field(default_factory=dict)
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    n_ok: int = 0
    #: per metric, seed -> value (percent; ``UNSCALED`` ones as they are), for comparisons paired by seed
    by_seed: dict[str, dict[int, float]] = field(default_factory=dict)
    published: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: the job folders of this row that no sweep asked for (earlier launches), counted in the mean
    outside_grid: list[str] = field(default_factory=list)
    #: some run of this row chose its checkpoints on the TEST split (``selection=test``, protocol=authors)
    test_selected: bool = False

    @property
    def status(self) -> str:
        """``ok`` when every seed finished, else e.g. ``2 ok, 1 failed``."""
        if self.statuses.keys() == {"ok"}:
            return "ok"
        return ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items()))


def _order_key(row: TableRow) -> tuple[int, tuple[str, ...], int, str]:
    # λ = 1 (or real images) first, then decreasing λ; then the other axes; within those, the paper's row order.
    lam = -1.0 if row.phylo_signal is None else row.phylo_signal
    rank = TABLE_ORDER.index(row.name) if row.name in TABLE_ORDER else len(TABLE_ORDER)
    axes = tuple(f"{v:>12}" if v is not None else "" for v in row.axes.values())  # numbers sort as numbers
    return (-round(lam * 1000), axes, rank, row.name)


def table_values(rec: RunRecord) -> dict[str, float]:
    """The table's metrics of one finished job, as in metrics.json, keyed as ``METRICS``, ``DIAGNOSTICS`` and
    ``OUTCOMES``."""
    raw = rec.metrics()
    keys = {**{m: f"test/knn/{m}" for m in METRICS}, **DIAGNOSTICS, **OUTCOMES}
    return {m: raw[key] for m, key in keys.items() if key in raw and not math.isnan(raw[key])}


def row_axes(records: Sequence[RunRecord]) -> list[str]:
    """The axes a table of ``records`` shows beside experiment and λ: the other keys the jobs vary, not seed."""
    return [a for a in varying_axes(records, exclude=(REPLICATE, *FIXED_AXES))]


def aggregate(records: Sequence[RunRecord], published: dict[str, dict[str, float]]) -> list[TableRow]:
    """Group runs by experiment, λ and every other varied axis; mean and sample std (ddof = 1; 0 for one seed) in %
    (``UNSCALED`` metrics in their own units)."""
    extra = row_axes(records)
    rows = []
    for key, recs in group(records, [*FIXED_AXES, *extra]).items():
        name, lam = recs[0].name, recs[0].phylo_signal
        ok = [r for r in recs if r.status == "ok"]
        staged = [r for r in recs if r.run_dir is not None] or recs
        row = TableRow(
            name=name,
            phylo_signal=lam,
            stage=(ok or staged)[0].stage if any(r.run_dir for r in recs) else None,
            seeds=sorted((r.seed for r in recs), key=lambda s: (s is None, s)),  # type: ignore[arg-type]
            statuses=Counter(r.status for r in recs),
            axes=dict(zip(extra, key[len(FIXED_AXES) :], strict=True)),
            n_ok=len(ok),
            # A published value is about real images or a genetically informative ForamSim, never λ = 0.
            published=published.get(name, {}) if lam is None or lam > 0 else {},
            errors=sorted({f"seed {r.seed}: {r.error}" for r in recs if r.status != "ok" and r.error}),
            outside_grid=sorted(f"seed {r.seed}: {r.run_dir}" for r in recs if r.outside_grid),
            test_selected=any(r.extra.get("selection") == "test" for r in recs),
        )
        values = {id(r): table_values(r) for r in ok}
        for m in (*METRICS, *DIAGNOSTICS, *OUTCOMES):
            scale = 1.0 if m in UNSCALED else 100.0
            have = [r for r in ok if m in values[id(r)]]
            vals = [scale * values[id(r)][m] for r in have]
            row.by_seed[m] = {r.seed: scale * values[id(r)][m] for r in have if isinstance(r.seed, int)}
            if vals:
                row.mean[m] = statistics.fmean(vals)
                row.std[m] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        rows.append(row)
    return sorted(rows, key=_order_key)


def knn_settings(records: Sequence[RunRecord]) -> str:
    """The KNN the runs were scored with, read from their metrics: ``k = 5`` (``k = 5/10`` when they differ)."""
    ks = sorted({r.k for r in records if r.status == "ok" and r.k is not None})
    return f"k = {'/'.join(map(str, ks))}" if ks else "k not recorded"
