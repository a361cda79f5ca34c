"""What each DNA encoder adds: encoder × generator tree × λ from GZSL sweeps, with one verdict per encoder and tree.

Reads GZSL sweep folders (one or more, e.g. one per ``data.sim_tree``) through :mod:`visgen.report.gzsl`'s cell
reader and writes ``<out>/<stem>.md`` and ``.csv``. Per (tree, λ, encoder rung, method): ZSL top-1 at k = 0 with
its 95 % t interval over the cells, the paired gap to the cell's shuffled anchors, the permutation p of the mean
over cells, genus accuracy and tree distance of the unseen species' errors, and the rung's tree signal (Mantel r
of its distances against the generator's tree, which needs no training).

The verdict asks "beats shuffled at λ = 1 and stays at chance at λ = 0". A side of it is decided only when the
paired interval and the permutation test agree (interval above 0 and p < 0.05: beats; interval over 0 and
p ≥ 0.05: does not); where they disagree, or a side has fewer than two cells, the verdict is UNDECIDED, because a
p-value near 0.05 moved across that line on a second machine while the interval did not. An encoder built from
the same k-mers as the tree it is scored on (k-mer-type encoders on ``kmer_upgma``) is marked circular.
Pure and torch-free.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visgen.eval.zeroshot import METHODS
from visgen.report.gzsl import _fmt, _value, collect, genetic_rungs, paired_gap, pooled_p, side, t_interval

#: Encoders whose vectors are k-mer (or dinucleotide-pair) statistics of the same 18S the k-mer tree is built from.
KMER_TYPE: frozenset[str] = frozenset({"sgt", "kmer"})
KMER_TREE = "kmer_upgma"
#: The encoder every other one is compared with, paired per cell: the paper's (and ``genetics.encoder``'s default).
BASELINE = "sgt"
#: Cells per λ below which a verdict is only provisional: with 10 cells per λ a fold-to-fold swing of ±20 pp moved a
#: permutation p across 0.05 between two machines.
MIN_CELLS = 30


def _tree(cell: dict[str, Any]) -> str:
    return str(cell["record"].data.get("tree") or KMER_TREE)


def draws_text(cells: Sequence[dict[str, Any]]) -> str:
    """Which ForamSim data draws (``data.sim_seed``) the cells ran on, and so what their spread replicates.

    With one draw for every cell the cells replicate training noise and folds but not the generator: a chance
    match between that draw's species traits and the DNA is shared by all of them and no interval over cells sees it.
    """
    draws = {c["record"].data.get("seed") for c in cells}
    if draws == {None}:
        return "real images (no data draw)"
    if len(draws) == 1:
        return f"one ForamSim draw ({draws.pop()}) shared by every cell: the cells replicate training, not the generator"
    per_seed = all(c["record"].data.get("seed") == c["seed"] for c in cells)
    listed = ", ".join(str(d) for d in sorted(draws, key=lambda d: (d is None, d or 0)))
    return f"{len(draws)} ForamSim draws ({listed}){', one per training seed' if per_seed else ''}"


def verdict(lam1: str, lam0: str) -> str:
    """HELD (beats at λ = 1, not at λ = 0), DID NOT HOLD (decided otherwise) or UNDECIDED."""
    if lam1 == "beats" and lam0 == "does not":
        return "HELD"
    if lam1 == "does not" or lam0 == "beats":
        return "DID NOT HOLD"
    return "UNDECIDED"


def _groups(cells: Sequence[dict[str, Any]]) -> Iterator[tuple[str, float, list[dict[str, Any]]]]:
    """``(tree, λ, cells)`` per generator tree (sorted) and λ (high to low): the unit every table row summarises."""
    for tree in sorted({_tree(c) for c in cells}):
        for lam in sorted({c["lambda"] for c in cells if _tree(c) == tree}, reverse=True):
            yield tree, lam, [c for c in cells if _tree(c) == tree and c["lambda"] == lam]


def rows(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (tree, λ, encoder rung, method)."""
    out = []
    for tree, lam, group in _groups(cells):
        for anchor in genetic_rungs(group):
            r = [c["metrics"].get(f"test/gzsl/{anchor}/tree_r") for c in group]
            for method in METHODS:
                out.append({
                    "tree": tree, "lambda": lam, "anchor": anchor, "method": method, "n": len(group),
                    "chance": float(np.mean([c["chance"] for c in group])),
                    "top1": t_interval([_value(c, anchor, method, "zsl_top1") for c in group]),
                    "gap": paired_gap(group, anchor, method, 0), "p": pooled_p(group, anchor, method),
                    "genus": t_interval([_value(c, anchor, method, "unseen_genus_acc") for c in group]),
                    "err": t_interval([_value(c, anchor, method, "unseen_error_tree_dist") for c in group]),
                    "tree_r": t_interval([np.nan if x is None else float(x) for x in r]),
                    "side": side(group, anchor, method),
                    "circular": tree == KMER_TREE and anchor.rsplit("_", 1)[0] in KMER_TYPE,
                })  # fmt: skip
    return out


def contrasts(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each encoder's raw rung minus ``BASELINE``'s, ZSL top-1 paired per cell, per (tree, λ, method).

    Two intervals: over cells, and over data draws (each draw's cells averaged first), because the cells of one
    ForamSim draw share its species traits and so are not independent replicates of the generator.
    """
    out, base = [], f"{BASELINE}_raw"
    for tree, lam, group in _groups(cells):
        raw = [a for a in genetic_rungs(group) if a.endswith("_raw")]
        for anchor in (a for a in raw if a != base and base in raw):
            for method in METHODS:
                diffs = [
                    _value(c, anchor, method, "zsl_top1") - _value(c, base, method, "zsl_top1") for c in group
                ]
                by_draw: dict[Any, list[float]] = {}
                for c, d in zip(group, diffs, strict=True):
                    by_draw.setdefault(c["record"].data.get("seed"), []).append(d)
                out.append({
                    "tree": tree, "lambda": lam, "anchor": anchor, "base": base, "method": method,
                    "cells": t_interval(diffs), "draws": t_interval([float(np.mean(v)) for v in by_draw.values()]),
                })  # fmt: skip
    return out


def _num(stat: tuple[float, float, float, int], digits: int = 2) -> str:
    mean = stat[0]
    return "–" if mean != mean else f"{mean:.{digits}f}"


def _p(p: float) -> str:
    return "–" if p != p else f"{p:.3f}"


def write_report(multiruns: Sequence[Path], out_dir: Path, command: str, stem: str) -> Path:
    """Write ``<stem>.md`` and ``<stem>.csv``; return the markdown path."""
    cells = [c for m in multiruns for c in collect(Path(m))]
    if not cells:
        raise SystemExit(
            f"error: {', '.join(map(str, multiruns))}: no finished GZSL jobs; run the sweeps first"
        )
    table = rows(cells)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / f"{stem}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["tree", "lambda", "anchor", "method", "n", "top1", "top1_low", "top1_high", "gap", "gap_low",
                    "gap_high", "p", "genus", "err_dist", "tree_r", "side", "circular"])  # fmt: skip
        for r in table:
            w.writerow([r["tree"], r["lambda"], r["anchor"], r["method"], r["n"], *(f"{x:.4f}" for x in r["top1"][:3]),
                        *(f"{x:.4f}" for x in r["gap"][:3]), f"{r['p']:.4f}", f"{r['genus'][0]:.4f}",
                        f"{r['err'][0]:.4f}", f"{r['tree_r'][0]:.4f}", r["side"], r["circular"]])  # fmt: skip
    machines = sorted({c["machine"] for c in cells})
    lines = [
        "# What DNA adds: encoders × generator tree × λ (unseen species, ZSL top-1 at k = 0)",
        "",
        f"Command: `{command}`  ",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from {', '.join(map(str, multiruns))} "
        f"({len(cells)} cells; summed job wall time {sum(c['wall_s'] or 0 for c in cells) / 60:.1f} min).  ",
        f"Machine: {'; '.join(machines)}.  ",
        f"Data draws: {draws_text(cells)}.",
        "",
        "ZSL top-1, gap to shuffled anchors (paired per cell) and genus accuracy in %, mean [95 % t interval] over "
        "cells; p: the mean over cells against the same mean under the cells' anchor permutations; err dist: tree "
        "distance of the unseen species' errors on the generator's tree (0-2); tree r: Mantel r of the rung's "
        "distances against the generator's tree. (c): circular — the encoder is a k-mer statistic of the DNA the "
        "k-mer tree is built from.",
        "",
        "| tree | λ | anchor | method | cells | ZSL top-1 | − shuffled (pp) | p | genus | err dist | tree r | side |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        mark = " (c)" if r["circular"] else ""
        lines.append(
            f"| {r['tree']} | {r['lambda']:g} | {r['anchor']}{mark} | {r['method']} | {r['n']} | {_fmt(r['top1'])} | "
            f"{_fmt(r['gap'])} | {_p(r['p'])} | {_fmt(r['genus'])} | {_num(r['err'])} | {_num(r['tree_r'])} | "
            f"{r['side']} |"
        )
    lines += ["", "## Verdicts: beats shuffled at λ = 1, at chance at λ = 0", ""]
    for tree in sorted({r["tree"] for r in table}):
        for anchor in dict.fromkeys(r["anchor"] for r in table if r["tree"] == tree):
            for method in METHODS:
                sides = {
                    r["lambda"]: r
                    for r in table
                    if (r["tree"], r["anchor"], r["method"]) == (tree, anchor, method)
                }
                if 1.0 not in sides or 0.0 not in sides:
                    continue
                if sides[1.0]["p"] != sides[1.0]["p"] or sides[0.0]["p"] != sides[0.0]["p"]:
                    lines.append(f"- {tree} / {anchor} / {method}: no verdict (no permutation null ran for this "
                                 "rung: gzsl.permutation.anchors)")  # fmt: skip
                    continue
                word = verdict(sides[1.0]["side"], sides[0.0]["side"])
                n = min(sides[1.0]["n"], sides[0.0]["n"])
                if n < MIN_CELLS and word != "UNDECIDED":
                    word += f" (provisional: {n} < {MIN_CELLS} cells per λ)"
                mark = ", circular" if sides[1.0]["circular"] else ""
                lines.append(
                    f"- {tree} / {anchor} / {method}{mark}: **{word}** (λ = 1: {sides[1.0]['side']}, "
                    f"{_fmt(sides[1.0]['gap'])} pp, p = {sides[1.0]['p']:.3f}; λ = 0: {sides[0.0]['side']}, "
                    f"{_fmt(sides[0.0]['gap'])} pp, p = {sides[0.0]['p']:.3f}; {sides[1.0]['n']} cells per λ)"
                )
    versus = contrasts(cells)
    if versus:
        lines += [
            "",
            f"## Encoders against {BASELINE.upper()} (ZSL top-1 difference in pp, paired per cell)",
            "",
            "Mean [95 % t] over cells, and over data draws (each draw's cells averaged first: the cells of one draw "
            "share its species traits).",
            "",
            "| tree | λ | anchor − baseline | method | over cells | draws | over draws |",
            "|---|---|---|---|---|---|---|",
        ]
        for v in versus:
            lines.append(
                f"| {v['tree']} | {v['lambda']:g} | {v['anchor']} − {v['base']} | {v['method']} | "
                f"{_fmt(v['cells'])} | {v['draws'][3]} | {_fmt(v['draws'])} |"
            )
    plot = _gap_plot(table, out_dir / f"{stem}_gaps.png")
    lines += ["", f"![paired gap to shuffled anchors per tree]({plot.name})"]
    md = out_dir / f"{stem}.md"
    md.write_text("\n".join(lines) + "\n")
    return md


def _gap_plot(table: Sequence[dict[str, Any]], path: Path) -> Path:
    """The paired gap to shuffled anchors [95 % t] per rung and method, one panel per tree, λ by colour."""
    from visgen.report.figures import gap_forest  # matplotlib only when a report is written

    panels: dict[str, list[tuple[str, float, float, float, float]]] = {}
    for r in table:
        mean, low, high = (100 * x for x in r["gap"][:3])
        label = f"{r['anchor']}{' (c)' if r['circular'] else ''} / {r['method']}"
        panels.setdefault(f"generator tree: {r['tree']}", []).append((label, r["lambda"], mean, low, high))
    return gap_forest(panels, path, "ZSL top-1 − shuffled anchors (pp, paired per cell)")


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m visgen.report.dna_encoders MULTIRUN_DIR [...] [--out reports] [--stem ...] [--command '...']``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("multiruns", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--stem", default="dna_encoders_quick")
    parser.add_argument("--command", default="make dna-encoders-table")
    args = parser.parse_args(argv)
    print(write_report(args.multiruns, args.out, args.command, args.stem))


if __name__ == "__main__":
    main(sys.argv[1:])
