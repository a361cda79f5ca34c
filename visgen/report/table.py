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
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from visgen.report.directions import Direction, directions
from visgen.report.header import header_lines
from visgen.resources import data_path
from visgen.results import REPLICATE, RunRecord, as_dirs, group, load_runs, varying_axes
from visgen.results.sweep import FIXED_AXES

log = logging.getLogger(__name__)

#: The metric families of the paper table, as keys of ``metrics.json`` without the ``test/knn/`` prefix.
METRICS: tuple[str, ...] = ("acc", "per_class_acc", "rare_acc", "many_acc", "medium_acc", "few_acc")
#: Diagnostics beside the paper's KNN, as ``{name: metrics.json key}``; a table shows them when a run has them.
DIAGNOSTICS: dict[str, str] = {"ncm_rare_acc": "test/ncm/rare_acc"}
#: How an axis (a config key a sweep varies) is titled in the table; others by their key.
AXIS_TITLES: dict[str, str] = {
    "data.sim_seed": "draw",
    "callbacks.knn_eval.k": "k",
    "callbacks.knn_eval.metric": "distance",
    "align.control": "anchors",
    "align.anchor_mode": "anchor mode",
}

#: Row order: the paper's Table 1 (rows 1-7), then Fig. 9a, then our variants and controls.
TABLE_ORDER: tuple[str, ...] = (
    "tl", "tl_softmax", "rtl", "rtl_softmax", "baseline", "ltr", "align", "ltr_align",
    "imagenet_align", "wb", "wb_align", "ltr_align_shuffled", "ltr_align_random", "ltr_align_centred",
)  # fmt: skip

#: Which published setting (``published_results.csv``, Karaderi et al. 2023) each of our rows reproduces.
#: Their row 5 is "LTR weight balancing"; the authors' code implements it as weight decay, so both of our
#: LTR rows (``ltr`` = weight decay, ``wb`` = Alshammari et al.'s two stages) sit beside it.
PUBLISHED_SETTING: dict[str, str] = {
    "rtl_softmax": "visual-only metric learning without LTR (baseline row)",
    "baseline": "visual-only metric learning without LTR (baseline row)",
    "ltr": "visual-only + LTR weight balancing (Table 1 row 5)",
    "wb": "visual-only + LTR weight balancing (Table 1 row 5)",
    "ltr_align": "LTR + visual-genetic cosine alignment (Table 1 row 7)",
    "wb_align": "LTR + visual-genetic cosine alignment (Table 1 row 7)",
}
_PUBLISHED_METRIC = {"overall_accuracy": "acc", "rare_per_class_accuracy": "rare_acc"}
_HEADINGS = {
    "acc": "overall",
    "per_class_acc": "per-class",
    "rare_acc": "rare",
    "many_acc": "many",
    "medium_acc": "medium",
    "few_acc": "few",
    "ncm_rare_acc": "rare, nearest class mean",
}


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
    #: per metric, seed -> value (percent), for comparisons paired by seed
    by_seed: dict[str, dict[int, float]] = field(default_factory=dict)
    published: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: the job folders of this row that no sweep asked for (earlier launches), counted in the mean
    outside_grid: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``ok`` when every seed finished, else e.g. ``2 ok, 1 failed``."""
        if self.statuses.keys() == {"ok"}:
            return "ok"
        return ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items()))


def load_published(path: Path | None = None) -> dict[str, dict[str, float]]:
    """Published Karaderi et al. 2023 values by our row name, ``{"ltr": {"acc": 83.3, "rare_acc": 48.2}}``."""
    path = path or data_path("published_results.csv")
    by_setting: dict[str, dict[str, float]] = {}
    with path.open(newline="") as fh:
        for rec in csv.DictReader(fh):
            metric = _PUBLISHED_METRIC.get(rec["metric"])
            if rec["source"].startswith("Karaderi et al. 2023") and metric:
                by_setting.setdefault(rec["setting"], {})[metric] = float(rec["value_percent"])
    return {name: by_setting[s] for name, s in PUBLISHED_SETTING.items() if s in by_setting}


def _order_key(row: TableRow) -> tuple[int, tuple[str, ...], int, str]:
    # λ = 1 (or real images) first, then decreasing λ; then the other axes; within those, the paper's row order.
    lam = -1.0 if row.phylo_signal is None else row.phylo_signal
    rank = TABLE_ORDER.index(row.name) if row.name in TABLE_ORDER else len(TABLE_ORDER)
    axes = tuple(f"{v:>12}" if v is not None else "" for v in row.axes.values())  # numbers sort as numbers
    return (-round(lam * 1000), axes, rank, row.name)


def _values(rec: RunRecord) -> dict[str, float]:
    """The table's metrics of one finished job, as fractions, keyed as ``METRICS`` and ``DIAGNOSTICS``."""
    raw = rec.metrics()
    keys = {**{m: f"test/knn/{m}" for m in METRICS}, **DIAGNOSTICS}
    return {m: raw[key] for m, key in keys.items() if key in raw and not math.isnan(raw[key])}


def row_axes(records: Sequence[RunRecord]) -> list[str]:
    """The axes a table of ``records`` shows beside experiment and λ: the other keys the jobs vary, not seed."""
    return [a for a in varying_axes(records, exclude=(REPLICATE, *FIXED_AXES))]


def aggregate(records: Sequence[RunRecord], published: dict[str, dict[str, float]]) -> list[TableRow]:
    """Group runs by experiment, λ and every other varied axis; mean and sample std (ddof = 1; 0 for one seed) in %."""
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
        )
        values = {id(r): _values(r) for r in ok}
        for m in (*METRICS, *DIAGNOSTICS):
            have = [r for r in ok if m in values[id(r)]]
            vals = [100.0 * values[id(r)][m] for r in have]
            row.by_seed[m] = {r.seed: 100.0 * values[id(r)][m] for r in have if isinstance(r.seed, int)}
            if vals:
                row.mean[m] = statistics.fmean(vals)
                row.std[m] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        rows.append(row)
    return sorted(rows, key=_order_key)


def knn_settings(records: Sequence[RunRecord]) -> str:
    """The KNN the runs were scored with, read from their metrics: ``k = 5`` (``k = 5/10`` when they differ)."""
    ks = sorted({r.k for r in records if r.status == "ok" and r.k is not None})
    return f"k = {'/'.join(map(str, ks))}" if ks else "k not recorded"


def _shown_metrics(rows: Sequence[TableRow]) -> list[str]:
    """The paper's metrics, then each diagnostic that at least one row has (older runs lack them)."""
    return [*METRICS, *(d for d in DIAGNOSTICS if any(d in r.mean for r in rows))]


def _cell(row: TableRow, m: str) -> str:
    if m not in row.mean:
        return "–"
    return f"{row.mean[m]:.1f} ± {row.std[m]:.1f}" if row.n_ok > 1 else f"{row.mean[m]:.1f}"


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
            r.name,
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
                "The nearest-class-mean column scores the same embeddings with one prototype per species instead",
                f"of the KNN vote ({knn}; a diagnostic, the paper reports only the KNN).",
            ]
            if "ncm_rare_acc" in shown
            else []
        ),
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
    """The table as CSV: one line per row, ``<metric>_mean`` / ``<metric>_std`` in percent."""
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
