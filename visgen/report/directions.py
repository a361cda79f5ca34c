"""Which of the paper's directions held in a table (pure, torch-free).

The paper's claims, each a comparison of rare-class per-class accuracy between two rows at the same λ:
LTR > baseline, LTR + alignment > LTR, genetic anchors > shuffled anchors, genetic > random anchors,
and, as our own control, that at λ = 0 (traits carry no phylogeny) genetic anchors lose that edge.
A difference is called "within seed noise" unless it exceeds the half-width of its 95 % t interval
(``visgen.results.t_interval``, df = n - 1: with 3 seeds that is 4.3 standard errors, not 2). Rows that share
seeds are compared seed by seed (paired: the alignment rows of one seed start from the same pretraining, and the
pretraining rows of one seed from the same initial weights and batches), so the interval is that of the per-seed
differences; otherwise the two rows' standard errors combine and df = min(n_a, n_b) - 1 (the conservative choice).
When the table varies further axes (e.g. the ForamSim draw), each combination of them is judged on its own.
Where the table has their rows (``make paper-table GRID=full``), our own questions about what explains the gain
follow the claims, judged the same way: ``QUESTIONS``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from visgen.results import t_interval

METRIC = "rare_acc"
LEVEL = 0.95

#: What could explain an alignment gain besides genetics, as (claim, better row, worse row) at the
#: headline λ; a question is listed only when the table has both rows.
QUESTIONS: tuple[tuple[str, str, str], ...] = (
    ("Genetic anchors beat equiangular anchors (fixed prototypes that carry no information)",
     "ltr_align", "ltr_align_equiangular"),
    ("Alignment beats class-balanced re-training of the same parameters (cRT)", "ltr_align", "ltr_crt"),
    ("Under the authors' protocol alignment raises rare-class accuracy", "ltr_align_authors", "ltr_authors"),
    ("The authors' protocol raises rare-class accuracy over ours (LTR)", "ltr_authors", "ltr"),
    ("Fixed genetic anchors beat a DNA tower learnt with image-DNA InfoNCE (the peers' recipe)",
     "ltr_align", "ltr_contrastive"),
)  # fmt: skip


def headline_lambda(lambdas: Iterable[float | None]) -> float | None:
    """The λ the paper's claims are read at: 1 when present, else real images (None), else the largest λ."""
    lams = set(lambdas)
    if 1.0 in lams:
        return 1.0
    if None in lams:
        return None
    return max((x for x in lams if x is not None), default=None)


class _Row(Protocol):
    name: str
    phylo_signal: float | None
    mean: dict[str, float]
    std: dict[str, float]
    n_ok: int
    by_seed: dict[str, dict[int, float]]


@dataclass(frozen=True)
class Direction:
    """One claim and what the table says about it."""

    claim: str
    verdict: str  # "held" | "held, within seed noise" | "did not hold" | "not measured" | ...
    evidence: str


def _find(rows: Sequence[_Row], names: Sequence[str], lam: float | None) -> _Row | None:
    # The first name with a measured value wins, so `baseline` stands in when `rtl_softmax` was not run.
    for name in names:
        for r in rows:
            if r.name == name and r.phylo_signal == lam and METRIC in r.mean:
                return r
    return None


def _half_width(rows: Sequence[_Row]) -> float:
    """95 % t half-width of the difference of two rows' means, unpaired (df = the smaller n - 1)."""
    from scipy.stats import t

    n = min(r.n_ok for r in rows)
    se = math.hypot(*(r.std.get(METRIC, 0.0) / math.sqrt(r.n_ok) for r in rows))
    return float(t.ppf(0.5 + LEVEL / 2, n - 1)) * se


def compare(claim: str, better: _Row | None, worse: _Row | None, missing: str) -> Direction:
    """Verdict on ``better`` > ``worse`` in rare-class accuracy; ``missing`` names absent rows."""
    if better is None or worse is None:
        return Direction(claim, "not measured", f"row missing or without results: {missing}")
    a, b = better.mean[METRIC], worse.mean[METRIC]
    diff, how = a - b, ""
    seeds_a, seeds_b = better.by_seed.get(METRIC, {}), worse.by_seed.get(METRIC, {})
    common = sorted(set(seeds_a) & set(seeds_b))
    if len(common) >= 2:
        diff, half = t_interval([seeds_a[s] - seeds_b[s] for s in common], LEVEL)
        how = f", paired over {len(common)} seeds"
    elif common and min(len(seeds_a), len(seeds_b)) == 1 and set(seeds_a) != set(seeds_b):
        # Rows run on different seeds: compare them on the seed both ran, not mean against mean of other seeds.
        (s,) = common
        a, b, diff, half = seeds_a[s], seeds_b[s], seeds_a[s] - seeds_b[s], math.nan
        how = f", seed {s}, the one both ran"
    elif min(better.n_ok, worse.n_ok) >= 2:
        half = _half_width([better, worse])
    else:
        half = math.nan
    interval = f"no interval{how}" if math.isnan(half) else f"95 % t interval ± {half:.1f} pp{how}"
    evidence = f"{better.name} {a:.1f} vs {worse.name} {b:.1f} ({diff:+.1f} pp; {interval})"
    # A gap that prints as +0.0 is no gap: per-seed values that agree to the printed digit (the same test images
    # right) can still differ by float rounding, which must not read as "held".
    if round(diff, 1) <= 0:
        return Direction(claim, "did not hold", evidence)
    if math.isnan(half):
        return Direction(claim, "held (one seed: no noise estimate)", evidence)
    return Direction(claim, "held" if diff > half else "held, within seed noise", evidence)


def directions(rows: Sequence[_Row]) -> list[Direction]:
    """The paper's directions at λ = 1 (or real images), and the λ = 0 control; per value of any other axis."""
    cells: dict[tuple[tuple[str, str | None], ...], list[_Row]] = {}
    for r in rows:
        cells.setdefault(tuple(getattr(r, "axes", {}).items()), []).append(r)
    found = []
    for cell, members in cells.items():
        where = "".join(f", {k} {v}" for k, v in cell)
        found += _directions(members, where)
    return found


def _directions(rows: Sequence[_Row], where: str) -> list[Direction]:
    """``directions`` for rows that differ only in experiment and λ; ``where`` names their other axes."""
    lam = headline_lambda(r.phylo_signal for r in rows)
    at = (f"λ = {lam:g}" if lam is not None else "real images") + where
    base = _find(rows, ("rtl_softmax", "baseline"), lam)
    ltr = _find(rows, ("ltr",), lam)
    gen = _find(rows, ("ltr_align",), lam)
    shuf = _find(rows, ("ltr_align_shuffled",), lam)
    rand = _find(rows, ("ltr_align_random",), lam)
    found = [
        compare(f"LTR raises rare-class accuracy over the baseline ({at})", ltr, base, "ltr, rtl_softmax"),
        compare(f"Alignment raises it further ({at})", gen, ltr, "ltr_align, ltr"),
        compare(f"Genetic anchors beat shuffled anchors ({at})", gen, shuf, "ltr_align, ltr_align_shuffled"),
        compare(f"Genetic anchors beat random anchors ({at})", gen, rand, "ltr_align, ltr_align_random"),
    ]
    gen0 = _find(rows, ("ltr_align",), 0.0)
    controls0 = [
        r for r in (_find(rows, ("ltr_align_shuffled",), 0.0), _find(rows, ("ltr_align_random",), 0.0)) if r
    ]
    claim0 = f"At λ = 0{where} the genetic anchors lose their edge over shuffled/random anchors"
    if gen0 is None or not controls0:
        found.append(Direction(claim0, "not measured", "no λ = 0 rows for ltr_align and its controls"))
    else:
        best = max(controls0, key=lambda r: r.mean[METRIC])
        edge = compare(claim0, gen0, best, "")
        # Losing the edge = the genetic row no longer beats the best control beyond seed noise.
        if edge.verdict == "did not hold":
            verdict = "held"
        elif edge.verdict == "held, within seed noise":
            verdict = "held (the remaining edge is within seed noise)"
        else:
            verdict = "did not hold" + (" (one seed)" if "one seed" in edge.verdict else "")
        found.append(Direction(claim0, verdict, edge.evidence))
    for claim, better, worse in QUESTIONS:
        rows_ab = _find(rows, (better,), lam), _find(rows, (worse,), lam)
        if all(rows_ab):
            found.append(compare(f"{claim} ({at})", *rows_ab, ""))
    return found
