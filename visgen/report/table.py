"""The paper table from Hydra multiruns: one row per cell of the varied axes, mean ± std over seeds (torch-free).

A row is an experiment at one λ and one value of every other axis the jobs vary (ForamSim draw, fold, k,
anchor type ... — ``visgen.results.varying_axes``), each such axis a column; seeds are the replicates averaged over.

``write_report(multirun_dirs, out)`` (one sweep folder or several) writes ``<out>/<stem>.md`` and ``<out>/<stem>.csv`` (stem:
the first multirun folder's name when it starts with ``paper_table``, else ``paper_table_<profile>``),
plus the plots of ``visgen.report.plots`` beside them when matplotlib can draw them.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from visgen.report.directions import Direction, directions
from visgen.report.header import header_lines
from visgen.report.published import load_published
from visgen.report.rows import DIAGNOSTICS, METRICS, OUTCOMES, UNSCALED, TableRow, aggregate, knn_settings
from visgen.results import RunRecord, as_dirs, load_runs

log = logging.getLogger(__name__)

#: How an axis (a config key a sweep varies) is titled in the table; others by their key.
AXIS_TITLES: dict[str, str] = {
    "data.sim_seed": "draw",
    "callbacks.knn_eval.k": "k",
    "callbacks.knn_eval.metric": "distance",
    "align.control": "anchors",
    "align.anchor_mode": "anchor mode",
}
#: Marks a row whose checkpoints were chosen on the test split (``run.json`` ``selection: test``).
TEST_SELECTED_MARK = "[test-selected]"

_HEADINGS = {
    "acc": "overall",
    "per_class_acc": "per-class",
    "rare_acc": "rare",
    "many_acc": "many",
    "medium_acc": "medium",
    "few_acc": "few",
    "ncm_rare_acc": "rare, nearest class mean",
    "clf_per_class_acc": "per-class, row's classifier",
    "clf_rare_acc": "rare, row's classifier",
    "genus_per_class_acc": "genus",
    "error_tree_dist": "err dist",
}


def _shown_metrics(rows: Sequence[TableRow]) -> list[str]:
    """The paper's metrics, each diagnostic that at least one row has (older runs lack them), then where the
    errors land (always: "–" for older runs)."""
    return [*METRICS, *(d for d in DIAGNOSTICS if any(d in r.mean for r in rows)), *OUTCOMES]


def _cell(row: TableRow, m: str) -> str:
    if m not in row.mean:
        return "–"
    digits = 2 if m in UNSCALED else 1  # a tree distance lies in [0, 2]: one decimal would hide the effect
    return (
        f"{row.mean[m]:.{digits}f} ± {row.std[m]:.{digits}f}" if row.n_ok > 1 else f"{row.mean[m]:.{digits}f}"
    )


def lam_text(lam: float | None) -> str:
    """λ as the tables print it: ``1``, ``0.5``; ``real`` for real images (no ForamSim λ)."""
    return "real" if lam is None else f"{lam:g}"


def _label(row: TableRow) -> str:
    """A row as a list item names it: ``ltr (λ 1)``, ``ltr (λ 1, draw 2)``."""
    axes = "".join(f", {AXIS_TITLES.get(a, a)} {v}" for a, v in row.axes.items())
    return f"{row.name} (λ {lam_text(row.phylo_signal)}{axes})"


def render_markdown(
    rows: Sequence[TableRow], header: Sequence[str], found: Sequence[Direction], knn: str
) -> str:
    """The report as Markdown: header, table, the paper's directions, then non-ok runs.

    ``knn`` is how the runs' KNN is described (``knn_settings``: read from their metrics, never assumed).
    """
    shown = _shown_metrics(rows)
    extra = list(rows[0].axes) if rows else []
    cols = [
        "experiment",
        "λ",
        *(AXIS_TITLES.get(a, a) for a in extra),
        "stage",
        "seeds ok",
        *(_HEADINGS[m] for m in shown),
        "published overall / rare",
    ]
    out = [f"# Paper table (Karaderi et al. 2023, Table 1) — accuracy in %, KNN {knn}", "", *header, ""]
    out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        pub = " / ".join(f"{r.published[m]:.1f}" if m in r.published else "–" for m in ("acc", "rare_acc"))
        seeds_ok = f"{r.n_ok}/{len(r.seeds)}" + ("" if r.status == "ok" else f" ({r.status})")
        axes = [v if v is not None else "–" for v in r.axes.values()]
        cells = [
            f"{r.name} {TEST_SELECTED_MARK}" if r.test_selected else r.name,
            lam_text(r.phylo_signal),
            *axes,
            r.stage or "–",
            seeds_ok,
            *(_cell(r, m) for m in shown),
        ]
        out.append("| " + " | ".join([*cells, pub if r.published else "–"]) + " |")
    out += [
        "",
        "Published values are on the real Endless Forams images (32 species); beside a ForamSim row they",
        "give the scale of the effect, not a number to match.",
        *(
            [
                f"{TEST_SELECTED_MARK} checkpoints chosen on the TEST split (selection=test, the authors' protocol): optimistic."
            ]
            if any(r.test_selected for r in rows)
            else []
        ),
        *(
            [
                "The nearest-class-mean column scores the same embeddings with one prototype per species instead",
                f"of the KNN vote ({knn}; a diagnostic, the paper reports only the KNN).",
            ]
            if "ncm_rare_acc" in shown
            else []
        ),
        "genus: per-class accuracy of the KNN's genus (the predicted species in the true one's genus, mean over",
        "species); err dist: mean distance between predicted and true species over the KNN's errors only",
        "(ForamSim: patristic distance on the generator's tree, unit root-to-tip depth, so 0-2; real images:",
        "taxonomy, 1 within a genus, 2 across). – : the run predates these columns.",
        "",
        "## Did the paper's directions hold? (rare-class per-class accuracy)",
        "",
    ]
    out += [f"- {d.claim}: **{d.verdict}** — {d.evidence}" for d in found]
    problems = [(r, e) for r in rows for e in r.errors]
    if problems:
        out += ["", "## Runs without a result", ""]
        out += [f"- {_label(r)} {e}" for r, e in problems]
    outside = [(r, j) for r in rows for j in r.outside_grid]
    if outside:
        out += ["", "## Jobs no sweep asked for (counted above)", ""]
        out += [
            "These folders are from an earlier launch into the same sweep folder (Hydra's multirun.yaml records",
            "only the last launch's grid); delete them and rebuild the report to leave them out.",
            "",
        ]
        out += [f"- {_label(r)} {j}" for r, j in outside]
    return "\n".join(out) + "\n"


def render_csv(rows: Sequence[TableRow]) -> str:
    """The table as CSV: one line per row, ``<metric>_mean`` / ``<metric>_std`` in percent (``error_tree_dist``
    as a distance)."""
    buf = io.StringIO()
    extra = list(rows[0].axes) if rows else []
    fields = ["experiment", "phylo_signal", *extra, "stage", "n_ok", "n_runs", "status"]
    shown = _shown_metrics(rows)
    fields += [f"{m}_{s}" for m in shown for s in ("mean", "std")] + ["published_acc", "published_rare_acc"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        rec: dict[str, object] = {
            "experiment": r.name,
            "phylo_signal": "" if r.phylo_signal is None else r.phylo_signal,
            **{a: "" if v is None else v for a, v in r.axes.items()},
            "stage": r.stage or "",
            "n_ok": r.n_ok,
            "n_runs": len(r.seeds),
            "status": r.status,
            "published_acc": r.published.get("acc", ""),
            "published_rare_acc": r.published.get("rare_acc", ""),
        }
        for m in shown:
            rec[f"{m}_mean"] = f"{r.mean[m]:.4f}" if m in r.mean else ""
            rec[f"{m}_std"] = f"{r.std[m]:.4f}" if m in r.std else ""
        writer.writerow(rec)
    return buf.getvalue()


def report_stem(multirun_dir: Path, records: Sequence[RunRecord]) -> str:
    """``paper_table_gpu`` for ``multirun/paper_table_gpu``; else ``paper_table_<most common profile>``."""
    if multirun_dir.name.startswith("paper_table"):
        return multirun_dir.name
    profile = Counter(r.profile for r in records).most_common(1)[0][0] if records else "unknown"
    return f"paper_table_{profile}"


def _source_line(text: str) -> str | None:
    return next((line for line in text.splitlines() if line.startswith("- **source**:")), None)


def _warn_if_replacing_another_source(md: Path, body: str) -> None:
    """Say so when ``md`` holds a report of other sweep folders (e.g. a committed one): it is about to go."""
    if md.exists():
        old, new = _source_line(md.read_text()), _source_line(body)
        if old is not None and old != new:
            log.warning(
                "%s held the report of other sweep folders (%s); replaced — pass --out to keep both", md, old
            )


def write_report(multirun_dirs: Path | Sequence[Path], out: Path) -> list[Path]:
    """Write ``<out>/<stem>.md`` and ``.csv`` (and plots, when they can be drawn); return the paths.

    Several multirun folders make one table; the first names it (``report_stem``).

    Raises:
        UserInputError: a folder is missing or holds no jobs, or two folders hold the same cell.
    """
    dirs = as_dirs(multirun_dirs)
    out = Path(out)
    records = load_runs(dirs)
    rows = aggregate(records, load_published())
    stem = report_stem(dirs[0], records)
    out.mkdir(parents=True, exist_ok=True)
    md, csv_path = out / f"{stem}.md", out / f"{stem}.csv"
    body = render_markdown(rows, header_lines(records, dirs), directions(rows), knn_settings(records))
    _warn_if_replacing_another_source(md, body)  # before the plots folder is rewritten too
    paths = [md, csv_path]
    try:
        from visgen.report.plots import write_report_plots

        write_report_plots(records, out / f"{stem}_plots")
    except ImportError as err:  # plotting is optional for the table; say why it is absent
        log.warning("plots skipped (%s)", err)
    # Every PNG in the plots folder, so plots drawn where the embeddings live (e.g. on the GPU machine)
    # and copied here stay linked when the table is rebuilt from the small result files alone.
    plots = sorted(
        (out / f"{stem}_plots").glob("*.png"), key=lambda p: (not p.name.startswith("per_class"), p.name)
    )
    if plots:
        body += (
            "\n## Plots\n\n"
            + "\n".join(f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in plots)
            + "\n"
        )
    md.write_text(body)
    csv_path.write_text(render_csv(rows))
    print(body)  # the final table is the one print the design allows
    return paths + plots
