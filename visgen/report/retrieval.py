"""Retrieval report: the GZSL cells scored as the peers (CLIBD, BIOSCAN-5M) score, micro / macro top-1 / top-5.

``python -m visgen.report.retrieval multirun/gzsl_quick [more ...] --out reports`` writes ``<stem>.md`` and
``<stem>.csv`` (stem ``retrieval_<first folder>`` unless ``--stem``). Reads the jobs through ``visgen.results``
(each job's ``gzsl`` metrics, ``test/retrieval/...``, written by ``visgen.eval.gzsl_retrieval``). One table per
combination of the settings the jobs vary (λ, tree, encoders ...; seeds and folds are the replicates averaged
over); rows: image->image and image->DNA per anchor set, by method; columns: seen / unseen queries x species /
genus x micro / macro x top-1 / top-5, mean over cells with the t 95 % interval (df = n - 1) when n > 1.
Torch-free.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from visgen.report.gzsl import _fmt, t_interval
from visgen.report.header import describe_data
from visgen.report.table import AXIS_TITLES
from visgen.results import RunRecord, group, load_runs, varying_axes

PREFIX = "test/retrieval/"
#: Replicates of one setting: averaged over, never a table of their own.
REPLICATES: tuple[str, ...] = ("seed", "data.unseen_fold", "data.unseen")
KINDS: dict[str, str] = {"image": "image→image", "dna": "image→DNA"}
#: (title, metric key below ``<kind>/<slot>/<method>/``), in the peers' column order.
COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (f"{subset} {level} {avg} top-{k}", f"{subset}/{level}/{avg}_top{k}")
    for subset in ("seen", "unseen")
    for level in ("species", "genus")
    for avg in ("micro", "macro")
    for k in (1, 5)
)

Row = tuple[str, str, str]  # (kind, slot, method)


def retrieval_cells(records: Sequence[RunRecord]) -> tuple[list[RunRecord], list[str]]:
    """The finished GZSL jobs that carry retrieval metrics, and one line per job left out (why)."""
    kept, skipped = [], []
    for rec in records:
        where = rec.run_dir or rec.name
        if rec.status != "ok" or rec.stage != "gzsl":
            skipped.append(f"{where}: status {rec.status}, stage {rec.stage}")
        elif not any(k.startswith(PREFIX) for k in rec.metrics("gzsl")):
            skipped.append(f"{where}: no {PREFIX}* metrics (written before the stage scored retrieval)")
        else:
            kept.append(rec)
    return kept, skipped


def table_rows(metrics: Sequence[dict[str, float]]) -> list[Row]:
    """The (kind, slot, method) rows the cells' metrics name: image->image first, in the order the stage wrote."""
    seen: dict[Row, None] = {}
    for m in metrics:
        for key in m:
            parts = key[len(PREFIX) :].split("/") if key.startswith(PREFIX) else []
            if len(parts) > 3:
                seen.setdefault((parts[0], parts[1], parts[2]), None)
    return sorted(seen, key=lambda r: list(KINDS).index(r[0]) if r[0] in KINDS else len(KINDS))


def summarise(
    metrics: Sequence[dict[str, float]], row: Row
) -> tuple[int, dict[str, tuple[float, float, float, int]]]:
    """(cells that score ``row``, per column key: (mean, low, high, n) over them, NaN values left out)."""
    prefix = PREFIX + "/".join(row) + "/"
    scored = [m for m in metrics if prefix + "seen/n_queries" in m]
    return len(scored), {
        key: t_interval([m.get(prefix + key, float("nan")) for m in scored]) for _, key in COLUMNS
    }


def _metrics_used(records: Sequence[RunRecord]) -> str:
    found = {}
    for rec in records:
        found.update(rec.raw_metrics("gzsl").get("retrieval_metric") or {})
    return ", ".join(f"{method} by {metric}" for method, metric in sorted(found.items())) or "not recorded"


def write_report(multiruns: Sequence[Path], out_dir: Path, command: str, stem: str | None = None) -> Path:
    """Write ``<stem>.md`` and ``<stem>.csv`` under ``out_dir``; return the markdown path."""
    cells, skipped = retrieval_cells(load_runs(list(multiruns)))
    if not cells:
        raise SystemExit(
            f"error: {', '.join(map(str, multiruns))}: no finished GZSL job with retrieval metrics; run the sweep"
        )
    stem = stem or f"retrieval_{Path(multiruns[0]).resolve().name}"
    axes = varying_axes(cells, exclude=REPLICATES)
    groups = group(cells, axes)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Retrieval accuracy of the GZSL cells, in the peers' format ({_source(cells)})",
        "",
        f"Command: `{command}`  ",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from {', '.join(map(str, multiruns))} "
        f"({len(cells)} cells; {len(skipped)} jobs left out).  ",
        f"Data: {describe_data(cells)}.  ",
        f"Machine: {'; '.join(sorted({r.machine for r in cells if r.machine})) or 'not recorded by the runs'}.",
        "",
        "Queries: every test image of a seen or held-out species (seen / unseen by its species). image→image keys: "
        "the seen species' training images and the held-out species' withheld training images; image→DNA keys: one "
        "per species, its DNA-only prototype (ridge: the anchor mapped by the ridge fitted on the seen species; "
        "aligned: the unit anchor). `images`: the pretrained embedding, the same for every anchor set; an anchor "
        "name under image→image: the aligned head refitted for that set. Top-k: the query's label among its k "
        "nearest keys' labels (keys tied at the k-th distance drawn at random in expectation); genus: the keys' "
        "genera against the query's; micro: over queries; macro: over the species (genera) among the queries. "
        f"Distance: {_metrics_used(cells)}. In %, mean [95 % t interval, df = n − 1] over cells; n: cells.",
        "",
    ]
    with open(out_dir / f"{stem}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*axes, "kind", "keys", "method", "n"] + [f"{k}_{s}" for _, k in COLUMNS for s in ("mean", "low", "high")])  # fmt: skip
        for values, recs in groups.items():
            if axes:
                lines += [
                    "## " + ", ".join(f"{_title(a)} = {v}" for a, v in zip(axes, values, strict=True)),
                    "",
                ]
            lines.append("| query→key | keys | method | n | " + " | ".join(t for t, _ in COLUMNS) + " |")
            lines.append("|" + "---|" * (len(COLUMNS) + 4))
            metrics = [r.metrics("gzsl") for r in recs]
            for row in table_rows(metrics):
                n, stats = summarise(metrics, row)
                kind = KINDS.get(row[0], row[0])
                lines.append(f"| {kind} | {row[1]} | {row[2]} | {n} | " + " | ".join(_fmt(stats[k]) for _, k in COLUMNS) + " |")  # fmt: skip
                w.writerow([*values, row[0], row[1], row[2], n] + [f"{x:.4f}" for _, k in COLUMNS for x in stats[k][:3]])  # fmt: skip
            lines.append("")
    if skipped:
        lines += ["## Jobs left out", "", *(f"- {s}" for s in skipped), ""]
    path = out_dir / f"{stem}.md"
    path.write_text("\n".join(lines))
    print(f"retrieval report: {path} ({len(cells)} cells, {len(skipped)} jobs left out)")
    return path


def _title(axis: str) -> str:
    return "λ" if axis == "data.phylo_signal" else AXIS_TITLES.get(axis, axis)


def _source(records: Sequence[RunRecord]) -> str:
    return "ForamSim — SYNTHETIC" if any(r.synthetic for r in records) else "real images"


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m visgen.report.retrieval MULTIRUN_DIR [...] [--out reports] [--stem ...] [--command '...']``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("multiruns", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--stem", default=None, help="file name stem (default: retrieval_<first folder>)")
    parser.add_argument("--command", default="python -m visgen.report.retrieval")
    args = parser.parse_args(argv)
    write_report(args.multiruns, args.out, args.command, args.stem)


if __name__ == "__main__":
    main(sys.argv[1:])
