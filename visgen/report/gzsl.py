"""GZSL report: anchor ladder x prototype method over folds x seeds, with t intervals, permutation
p-values, the genetic − shuffled curve against k and a plain verdict.

``python -m visgen.report.gzsl multirun/gzsl_quick --out reports`` writes ``gzsl_quick.md``, ``.csv`` and
``gzsl_quick_kshot.png`` (named after the folder). Reads the job folders, each job's ``gzsl/metrics.json`` and its permutation null
through ``visgen.results``. Intervals are t-based with df = n − 1 over the cells of a row.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visgen.eval.gzsl_novelty import NOVELTY
from visgen.eval.zeroshot import CONTROLS, LADDER, LEARNED, METHODS, ORACLES
from visgen.report.header import describe_data
from visgen.results import load_runs, read_metrics, read_permutation_null
from visgen.results import t_interval as _t_interval

COLUMNS: tuple[tuple[str, str], ...] = (
    ("ZSL top-1", "zsl_top1"),
    ("unseen top-1", "unseen_top1"),
    ("unseen top-5", "unseen_top5"),
    ("seen per-class", "seen_acc"),
    ("H", "h"),
    ("AUSUC", "ausuc"),
    ("novelty AUROC", "novelty_auroc"),
    ("unseen genus", "unseen_genus_acc"),
    ("unseen err dist", "unseen_error_tree_dist"),
)
#: Columns that are not fractions: shown as they are, not as percentages.
UNSCALED: frozenset[str] = frozenset({"unseen_error_tree_dist"})


def t_interval(values: Sequence[float]) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the non-NaN values: ``visgen.results.t_interval`` (95 %, df = n − 1) as bounds."""
    v = [float(x) for x in values if x == x]
    mean, half = _t_interval(v)
    return mean, mean - half, mean + half, len(v)


def collect(multirun: Path) -> list[dict[str, Any]]:
    """One dict per finished GZSL job: lambda, fold, seed, shots, chance, metrics and the permutation draws."""
    cells = []
    for rec in load_runs(multirun):
        if rec.run_dir is None or rec.status != "ok" or rec.stage != "gzsl":
            print(f"gzsl report: skipping {rec.run_dir or rec.name} (status {rec.status}, stage {rec.stage})")
            continue
        g = read_metrics(rec.run_dir / "gzsl")
        held = rec.data.get("heldout") or {}
        cells.append(
            {"lambda": rec.phylo_signal, "seed": rec.seed, "fold": held.get("unseen_fold"),
             "shots": held.get("shots", 0), "chance": g["chance_zsl"], "metrics": g,
             "null": read_permutation_null(rec.run_dir / "gzsl"), "job": rec.run_dir,
             "wall_s": rec.extra.get("wall_s"), "machine": rec.machine or "?", "outside_grid": rec.outside_grid,
             "record": rec}
        )  # fmt: skip
    return cells


def ladder(cells: Sequence[dict[str, Any]]) -> list[str]:
    """The anchor rungs the cells' metrics name: oracles, then the DNA encoders' rungs (``<encoder>_<mode>``, in
    the order the stage wrote them), then the controls. Read from the metrics, so any encoder is reported."""
    seen: dict[str, None] = {}
    for c in cells:
        for key in c["metrics"]:
            parts = key.split("/")
            if len(parts) > 3 and parts[:2] == ["test", "gzsl"] and parts[2] != NOVELTY:
                seen.setdefault(parts[2], None)
    dna = [a for a in seen if a not in LADDER]
    learned = [a for a in LEARNED if a in seen]
    return [a for a in ORACLES if a in seen] + dna + learned + [a for a in CONTROLS if a in seen]


def genetic_rungs(cells: Sequence[dict[str, Any]]) -> list[str]:
    """The DNA encoders' raw and centred rungs (those the verdict and the k-shot curve compare with shuffled)."""
    return [a for a in ladder(cells) if a not in LADDER and a.rsplit("_", 1)[-1] in ("raw", "centred")]


def _lambdas(values: Iterable[float | None]) -> list[float | None]:
    """The distinct λ of ForamSim cells, high to low; None (real images, no λ) last."""
    return sorted(set(values), key=lambda lam: (lam is None, -(lam or 0.0)))


def _label(lam: float | None) -> str:
    return "real images" if lam is None else f"λ = {lam:g}"


def _value(cell: dict[str, Any], anchor: str, method: str, key: str, k: int = 0) -> float:
    """One metric of a cell; NaN where it is undefined (null) or the cell predates it."""
    value = cell["metrics"].get(f"test/gzsl/{anchor}/{method}/k{k}/{key}")
    return float("nan") if value is None else float(value)


def pooled_p(cells: Sequence[dict[str, Any]], anchor: str, method: str, key: str = "zsl_top1") -> float:
    """p-value of the mean over cells: the i-th permutation of every cell together is one draw of the null mean."""
    draws = [c["null"].get(f"{anchor}/{method}/{key}") for c in cells]
    if not draws or any(d is None for d in draws):
        return float("nan")
    p = min(len(d) for d in draws)
    null_mean = np.mean([d[:p] for d in draws], axis=0)
    observed = np.mean([_value(c, anchor, method, key) for c in cells])
    return float((1 + np.sum(null_mean >= observed - 1e-12)) / (1 + p))


def table_rows(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (λ, anchor, method) with mean / low / high / n per column and the pooled p-value."""
    rows = []
    by_lambda: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for c in cells:
        by_lambda[c["lambda"]].append(c)
    rungs = ladder(cells)
    for lam in _lambdas(by_lambda):
        group = by_lambda[lam]
        for anchor in rungs:
            for method in METHODS:
                if np.isnan(_value(group[0], anchor, method, "zsl_top1")):
                    continue
                row: dict[str, Any] = {"lambda": lam, "anchor": anchor, "method": method}
                for _, key in COLUMNS:
                    row[key] = t_interval([_value(c, anchor, method, key) for c in group])
                row["p"] = pooled_p(group, anchor, method)
                rows.append(row)
    return rows


def paired_gap(cells: Sequence[dict[str, Any]], anchor: str, method: str, k: int, key: str = "zsl_top1"):
    """(mean, low, high, n) of ``anchor`` − ``shuffled`` over cells, paired within each cell."""
    return t_interval(
        [_value(c, anchor, method, key, k) - _value(c, "shuffled", method, key, k) for c in cells]
    )


def side(cells: Sequence[dict[str, Any]], anchor: str, method: str) -> str:
    """``beats`` / ``does not`` / ``undecided``: the anchor against shuffled, when interval and permutation agree."""
    gap, p = paired_gap(cells, anchor, method, 0), pooled_p(cells, anchor, method)
    if gap[3] < 2 or p != p:
        return "undecided"
    if gap[1] > 0 and p < 0.05:
        return "beats"
    if gap[1] <= 0 <= gap[2] and p >= 0.05:
        return "does not"
    return "undecided"


def _fmt(stat: tuple[float, float, float, int], key: str = "") -> str:
    """``mean [low, high]`` in % (``UNSCALED`` keys as they are, two decimals); "–" when undefined."""
    mean, low, high, _ = stat
    scale, digits = (1.0, 2) if key in UNSCALED else (100.0, 1)
    if mean != mean:
        return "–"
    if low != low:
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} [{scale * low:.{digits}f}, {scale * high:.{digits}f}]"


def _word(cells: Sequence[dict[str, Any]], word: str) -> str:
    """``word``, or UNDECIDED where one cell gives no interval (its point values are still listed)."""
    return (
        word if len(cells) > 1 else "UNDECIDED (one cell: a 95 % interval needs at least two folds or seeds)"
    )


def verdicts(cells: Sequence[dict[str, Any]]) -> list[str]:
    """The three plain statements the GZSL study asks for, each with the numbers it rests on (ZSL top-1 at k = 0)."""
    lam1 = [c for c in cells if c["lambda"] == 1.0]
    lam0 = [c for c in cells if c["lambda"] == 0.0]
    if not lam1 and not lam0:
        return [
            "No verdict: the three statements compare ForamSim at λ = 1 and λ = 0. On these cells read SGT against "
            "shuffled, and its permutation p, in the table."
        ]
    out = []
    if lam1:
        chance = float(np.mean([c["chance"] for c in lam1]))
        parts, above = [], 0
        for anchor in ("oracle_traits", "oracle_tree"):
            for method in METHODS:
                s = t_interval([_value(c, anchor, method, "zsl_top1") for c in lam1])
                above += s[1] > chance
                parts.append(f"{anchor}/{method} {_fmt(s)}")
        word = _word(lam1, "HELD" if above == 4 else ("PARTLY held" if above else "DID NOT HOLD"))
        out.append(
            f"1. Oracle ≫ chance at λ = 1: {word} ({above} of 4 oracle rows have their 95 % interval above chance "
            f"{100 * chance:.0f} %: {'; '.join(parts)})."
            + ("" if above or len(lam1) < 2 else " The mechanism is broken: do not read the SGT rows.")
        )
        parts, sides = [], []
        genetic = genetic_rungs(lam1)
        dna = "/".join(dict.fromkeys(a.rsplit("_", 1)[0].upper() for a in genetic)) or "DNA"
        for anchor in genetic:
            for method in METHODS:
                gap, p = paired_gap(lam1, anchor, method, 0), pooled_p(lam1, anchor, method)
                sides.append(side(lam1, anchor, method))
                parts.append(f"{anchor}/{method} {_fmt(gap)} pp, permutation p = {p:.3f} ({sides[-1]})")
        total, wins = len(sides), sides.count("beats")
        if total and wins == total:
            word = "HELD"
        elif wins:
            word = "PARTLY held"
        elif "undecided" in sides:  # interval and permutation disagree on a row: neither word is earned
            word = "UNDECIDED (interval and permutation test disagree, or too few cells)"
        else:
            word = "DID NOT HOLD"
        out.append(
            f"2. {dna} > shuffled at λ = 1 (paired gap in ZSL top-1 above 0 and permutation p < 0.05, both): "
            f"{_word(lam1, word)} ({wins} of {total} rows: {'; '.join(parts)})."
        )
    if lam0:
        chance = float(np.mean([c["chance"] for c in lam0]))
        above, below = [], []
        for anchor in ladder(lam0):
            if anchor == "oracle_traits":  # the generator's traits: informative at any λ by construction
                continue
            for method in METHODS:
                s = t_interval([_value(c, anchor, method, "zsl_top1") for c in lam0])
                if s[3] > 1 and s[1] > chance:
                    above.append(f"{anchor}/{method} {_fmt(s)}")
                elif s[3] > 1 and s[2] < chance:
                    below.append(f"{anchor}/{method} {_fmt(s)}")
        word = _word(lam0, "HELD" if not above else "DID NOT HOLD")
        detail = (
            "no anchor's interval lies above chance" if not above else "above chance: " + "; ".join(above)
        )
        if below:
            detail += "; below chance (no gain, so no geometry effect to explain): " + "; ".join(below)
        out.append(
            f"3. Every anchor ≈ chance ({100 * chance:.0f} %) at λ = 0, i.e. no gain without genetics: {word} "
            f"({detail}; oracle_traits, the generator's own trait vector, is informative at any λ and is left out)."
        )
    return out


def plot_gap(cells: Sequence[dict[str, Any]], path: Path) -> None:
    """Genetic − shuffled ZSL top-1 against k, one panel per λ, a line per (anchor, method), 95 % t intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lambdas = _lambdas(c["lambda"] for c in cells)
    ks = sorted({int(k.split("/k")[1].split("/")[0]) for c in cells for k in c["metrics"] if "/k" in k})
    fig, axes = plt.subplots(1, len(lambdas), figsize=(5 * len(lambdas), 3.8), squeeze=False, sharey=True)
    for ax, lam in zip(axes[0], lambdas, strict=True):
        group = [c for c in cells if c["lambda"] == lam]
        for i, anchor in enumerate([*genetic_rungs(group), "oracle_tree"]):
            for j, method in enumerate(METHODS):
                s = [paired_gap(group, anchor, method, k) for k in ks]
                mean = np.array([100 * x[0] for x in s])
                err = np.array([[100 * (x[0] - x[1]), 100 * (x[2] - x[0])] for x in s]).T
                ax.errorbar(np.array(ks) + 0.08 * (2 * i + j - 2.5), mean, yerr=err, marker="os^vDP*X"[i % 8],
                            ls="-" if method == "ridge" else "--", capsize=2, label=f"{anchor} / {method}")  # fmt: skip
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_title(f"{_label(lam)} ({len(group)} cells)")
        ax.set_xlabel("k support images per target species")
    axes[0][0].set_ylabel("anchor − shuffled, ZSL top-1 (pp)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _other_launches(cells: Sequence[dict[str, Any]]) -> str:
    """A sentence counting the cells from an earlier launch into the same folder, so none is counted silently."""
    n = sum(bool(c.get("outside_grid")) for c in cells)
    if not n:
        return ""
    return (
        f"  \n{n} of the {len(cells)} cells come from an earlier launch into the same folder (multirun.yaml records "
        "only the last launch's grid; `make gzsl-table` launches the two λ halves separately)."
    )


def write_report(multirun: Path, out_dir: Path, command: str) -> Path:
    """Write ``<folder>.md``, ``.csv`` and the k-shot plot, named after the sweep folder (``gzsl_`` prepended
    where its name lacks it: multirun/gzsl_quick -> gzsl_quick.md), so a variant never overwrites the main table;
    return the markdown path."""
    cells = collect(multirun)
    if not cells:
        raise SystemExit(f"error: {multirun}: no finished GZSL jobs (gzsl/metrics.json); run the sweep first")
    profile = cells[0]["metrics"].get("profile", "quick")
    name = Path(multirun).resolve().name
    stem = name if name.startswith("gzsl") else f"gzsl_{name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = table_rows(cells)
    with open(out_dir / f"{stem}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["lambda", "anchor", "method", "n"] + [f"{k}_{s}" for _, k in COLUMNS for s in ("mean", "low", "high")] + ["p_zsl_top1"])  # fmt: skip
        for r in rows:
            w.writerow([r["lambda"], r["anchor"], r["method"], r["zsl_top1"][3]]
                       + [f"{x:.4f}" for _, k in COLUMNS for x in r[k][:3]] + [f"{r['p']:.4f}"])  # fmt: skip
    plot_gap(cells, out_dir / f"{stem}_kshot.png")
    folds = sorted({c["fold"] for c in cells if c["fold"] is not None})
    seeds = sorted({c["seed"] for c in cells})
    walls = [c["wall_s"] for c in cells if c["wall_s"]]
    chances = sorted({round(100 * c["chance"]) for c in cells})
    chance = " / ".join(f"{x} %" for x in chances)  # 1 / number of targets, as each cell recorded it
    source = "ForamSim — synthetic" if any(c["record"].synthetic for c in cells) else "real images"
    lines = [
        f"# GZSL: species with no training image, recognised from their DNA ({profile} profile, {source})",
        "",
        f"Command: `{command}`  ",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from {multirun} "
        f"({len(cells)} cells: folds {folds}, seeds {seeds}, λ {_lambdas(c['lambda'] for c in cells)}; "
        f"summed job wall time {sum(walls) / 60:.1f} min, {_reused(cells)}).  ",
        f"Data: {describe_data([c['record'] for c in cells])}.  ",
        f"Machine: {'; '.join(sorted({c['machine'] for c in cells}))}." + _other_launches(cells),
        "",
        "Each cell pretrains on the seen species of one leave-species-out fold (its targets have no training, "
        "validation or gallery image), then scores every anchor with both prototype methods on the frozen trunk. "
        f"ZSL top-1: targets' test images among the targets only (chance {chance}); unseen top-1 / top-5: among "
        "all species (GZSL); H: harmonic mean of seen per-class and unseen top-1; AUSUC: area under the seen–unseen "
        "per-class accuracy curve traced by every constant subtracted from the seen species' scores (Chao et al. "
        "2016; no calibration chosen on data); novelty AUROC: seen vs target test "
        "images by distance to the nearest seen prototype over that species' spread. Unseen genus: per-class "
        "fraction of the targets' test images (predicted among all species) whose predicted species is in their "
        "genus; unseen err dist: mean distance between predicted and true species over those images' errors "
        "(ForamSim: patristic on the generator's tree, unit root-to-tip depth, 0–2; real images: 1 within a "
        "genus, 2 across; – where a cell predates it), both at k = 0. Mean over cells with the "
        "t-based 95 % interval (df = n − 1); p: permutation p-value of the mean ZSL top-1 against anchors permuted "
        "across species (the map / head refitted per permutation; pooled over cells).",
        "",
        "## Verdict",
        "",
        *verdicts(cells),
        "",
    ]
    for lam in _lambdas(r["lambda"] for r in rows):
        lines += [
            f"## {_label(lam)}",
            "",
            "| anchor | method | n | " + " | ".join(t for t, _ in COLUMNS) + " | p |",
        ]
        lines.append("|" + "---|" * (len(COLUMNS) + 4))
        for r in (r for r in rows if r["lambda"] == lam):
            cells_md = " | ".join(_fmt(r[k], k) for _, k in COLUMNS)
            p = "" if r["p"] != r["p"] else f"{r['p']:.3f}"
            lines.append(f"| {r['anchor']} | {r['method']} | {r['zsl_top1'][3]} | {cells_md} | {p} |")
        lines.append("")
    ks = sorted({int(k.split("/k")[1].split("/")[0]) for c in cells for k in c["metrics"] if "/k" in k})
    lines += ["## Genetic − shuffled against k (ZSL top-1, pp, paired within cells)", "",
              "| λ | anchor / method | " + " | ".join(f"k = {k}" for k in ks) + " |", "|" + "---|" * (len(ks) + 2)]  # fmt: skip
    for lam in _lambdas(c["lambda"] for c in cells):
        group = [c for c in cells if c["lambda"] == lam]
        for anchor in ["oracle_tree", *genetic_rungs(group)]:
            for method in METHODS:
                gaps = " | ".join(_fmt(paired_gap(group, anchor, method, k)) for k in ks)
                lines.append(f"| {'real' if lam is None else f'{lam:g}'} | {anchor} / {method} | {gaps} |")
    lines += ["", f"![genetic − shuffled against k]({stem}_kshot.png)", ""]
    path = out_dir / f"{stem}.md"
    path.write_text("\n".join(lines))
    print(f"gzsl report: {path} ({len(cells)} cells)")
    return path


def _reused(cells: Sequence[dict[str, Any]]) -> str:
    """How many cells took their pretraining from the cache (their wall time leaves the training out)."""
    n = sum(bool(c["record"].stages.get("pretrain", {}).get("reused")) for c in cells)
    return f"{n} of {len(cells)} reused a cached pretraining"


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m visgen.report.gzsl MULTIRUN_DIR [--out reports] [--command '...']``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("multirun", type=Path)
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--command", default="make gzsl-table")
    args = parser.parse_args(argv)
    write_report(args.multirun, args.out, args.command)


if __name__ == "__main__":
    main(sys.argv[1:])
