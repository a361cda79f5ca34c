"""Paired comparisons behind "what explains the paper's gain" (experiments/paper_table/README.md, issue 17).

Reads the job folders of one or more multiruns of the paper-table rows and pairs runs by (seed, λ):

- test-selected − validation-selected: the same row and training with ``selection=test`` against ``val``
  (the optimism of choosing the checkpoint on the test split, as the authors' code does);
- protocol=authors − ours: ``ltr_authors`` − ``ltr`` and ``ltr_align_authors`` − ``ltr_align``;
- alignment − LTR under each protocol;
- each rebalancing row − ``ltr`` (KNN and NCM over its embedding; its own classifier against ``ltr_plain``'s).

    python experiments/paper_table/protocol_probe.py multirun/paper_table_quick_issue17 multirun/paper_table_quick_issue17_testsel

Prints markdown: mean difference in percentage points with its 95 % t-interval over the paired seeds
(df = n − 1; one seed: no interval). Torch-free.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from visgen.report.rows import table_values
from visgen.results import load_runs, t_interval

METRICS = {"overall": "acc", "per-class": "per_class_acc", "rare": "rare_acc"}
Cell = tuple[int | None, float | None]


class Run(NamedTuple):
    """What the probe needs of one finished job: its row, pairing cell, checkpoint selection and table values."""

    name: str
    seed: int | None
    phylo_signal: float | None
    selection: str = "val"
    metrics: dict[str, float] = {}  # noqa: RUF012 (read-only); fractions, keyed as the report's table columns


def fmt(diffs: Sequence[float]) -> str:
    """``+1.2 ± 3.4 (n = 3)`` in pp; ``+1.2 (n = 1, no interval)`` for one pair; ``–`` for none."""
    if not diffs:
        return "–"
    mean, half = t_interval(diffs)
    return (
        f"{mean:+.1f} (n = 1, no interval)"
        if math.isnan(half)
        else f"{mean:+.1f} ± {half:.1f} (n = {len(diffs)})"
    )


def load(dirs: Sequence[Path]) -> list[Run]:
    """Every finished run under ``dirs``, read through ``visgen.results``."""
    return [
        Run(r.name, r.seed, r.phylo_signal, str(r.extra.get("selection", "val")), table_values(r))
        for r in load_runs(dirs)
        if r.status == "ok"
    ]


def paired(runs: Sequence[Run], a: Callable[[Run], bool], b: Callable[[Run], bool], key: str) -> list[float]:
    """100 · (a − b) of metric ``key`` over the (seed, λ) cells both have (first run of each cell wins)."""
    first: dict[str, dict[Cell, float]] = {"a": {}, "b": {}}
    for r in runs:
        for side, pick in (("a", a), ("b", b)):
            if pick(r) and key in r.metrics:
                first[side].setdefault((r.seed, r.phylo_signal), r.metrics[key])
    cells = sorted(set(first["a"]) & set(first["b"]), key=str)
    return [100.0 * (first["a"][c] - first["b"][c]) for c in cells]


def _is(name: str, selection: str = "val") -> Callable[[Run], bool]:
    return lambda r: r.name == name and r.selection == selection


def report(runs: Sequence[Run]) -> str:
    """The markdown tables (see the module docstring)."""
    lines = ["| comparison | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]

    def row(label: str, a: Callable[[Run], bool], b: Callable[[Run], bool]) -> None:
        lines.append(
            f"| {label} | " + " | ".join(fmt(paired(runs, a, b, m)) for m in METRICS.values()) + " |"
        )

    for name in sorted({r.name for r in runs if r.selection == "test"}):
        if any(_is(name)(r) for r in runs):
            row(f"`{name}`: test-selected − validation-selected", _is(name, "test"), _is(name))
    row("`ltr_authors` − `ltr` (protocol=authors − ours)", _is("ltr_authors", "test"), _is("ltr"))
    row("`ltr_align_authors` − `ltr_align`", _is("ltr_align_authors", "test"), _is("ltr_align"))
    row("alignment − LTR, ours", _is("ltr_align"), _is("ltr"))
    row("alignment − LTR, protocol=authors", _is("ltr_align_authors", "test"), _is("ltr_authors", "test"))
    lines += [
        "",
        "Rare-class accuracy, row − `ltr` (the row's own classifier against `ltr_plain`'s), pp:",
        "",
    ]
    lines += ["| row | 5-NN vote | nearest class mean | row's classifier |", "|---|---|---|---|"]
    for name in (
        "ltr_align",
        "ltr_align_equiangular",
        "ltr_crt",
        "ltr_tau_norm",
        "ltr_logit_adjust",
        "ltr_ncm",
    ):
        knn = fmt(paired(runs, _is(name), _is("ltr"), "rare_acc"))
        ncm = fmt(paired(runs, _is(name), _is("ltr"), "ncm_rare_acc"))
        clf = fmt(paired(runs, _is(name), _is("ltr_plain"), "clf_rare_acc"))
        lines.append(f"| `{name}` | {knn} | {ncm} | {clf} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="multirun folders")
    print(report(load(parser.parse_args(argv).dirs)))


if __name__ == "__main__":
    main()
