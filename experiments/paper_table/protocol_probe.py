"""Paired comparisons behind "what explains the paper's gain" (experiments/paper_table/README.md).

Reads the job folders of one or more multiruns of the paper-table rows and pairs runs by (seed, λ):

- test-selected − validation-selected: the same row and training with ``selection=test`` against ``val``
  (the optimism of choosing the checkpoint on the test split, as the authors' code does); and, within every
  ``selection=test`` run, from its training log: the test numbers at the epoch the test split chose minus those
  at the epoch its ride-along validation split (``val_split/*``) would have chosen;
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
from visgen.results import load_runs, read_training_log, t_interval

METRICS = {"overall": "acc", "per-class": "per_class_acc", "rare": "rare_acc"}
Cell = tuple[int | None, float | None]


class Run(NamedTuple):
    """What the probe needs of one finished job: its row, pairing cell, checkpoint selection and table values."""

    name: str
    seed: int | None
    phylo_signal: float | None
    selection: str  # "val" or "test": the split that chose the checkpoints
    metrics: dict[str, float]  # fractions, keyed as the report's table columns
    run_dir: Path | None = None  # the job folder (its training logs); None for a hand-made run


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
        Run(r.name, r.seed, r.phylo_signal, str(r.extra.get("selection", "val")), table_values(r), r.run_dir)
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


def logged_selection(run: Run, stage: str = "pretrain") -> dict[str, float] | None:
    """Within one ``selection=test`` run: 100 · (test metric at the test-chosen epoch − at the val-chosen epoch).

    The epochs are the first maxima of ``val/knn/acc`` (the test split, which chose the checkpoint) and of
    ``val_split/knn/acc`` (the validation split), as ``ModelCheckpoint`` keeps the first of equal scores.
    None when the run has no such log (older runs, or no job folder).
    """
    log = read_training_log(run.run_dir / stage) if run.run_dir else []
    rows = [r for r in log if r.get("val/knn/acc") and r.get("val_split/knn/acc")]
    if not rows:
        return None

    def first_max(key: str) -> dict[str, str]:
        return max(enumerate(rows), key=lambda ir: (float(ir[1][key]), -ir[0]))[1]

    on_test, on_val = first_max("val/knn/acc"), first_max("val_split/knn/acc")
    return {
        m: 100.0 * (float(on_test[f"val/knn/{m}"]) - float(on_val[f"val/knn/{m}"])) for m in METRICS.values()
    }


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
    for name in sorted({r.name for r in runs if r.selection == "test"}):
        logged = [d for r in runs if _is(name, "test")(r) and (d := logged_selection(r)) is not None]
        if logged:
            cells = " | ".join(fmt([d[m] for d in logged]) for m in METRICS.values())
            lines.append(
                f"| `{name}`, pretraining: test-chosen − val-chosen epoch (one run's log) | {cells} |"
            )
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
