"""Which of the paper's directions held in a table (pure, torch-free).

The paper's claims, each a comparison of rare-class per-class accuracy between two rows at the same λ:
LTR > baseline, LTR + alignment > LTR, genetic anchors > shuffled anchors, genetic > random anchors,
and, as our own control, that at λ = 0 (traits carry no phylogeny) genetic anchors lose that edge.
A difference is called "within seed noise" unless it exceeds twice its standard error over seeds (about a 95 %
interval; one standard error is crossed by chance a third of the time). Rows that share seeds are compared seed by
seed (paired: the alignment rows of one seed start from the same pretraining, and the pretraining rows of one seed
from the same initial weights and batches), so the standard error is that of the per-seed differences; otherwise it
combines the two rows' standard errors.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from visgen.report.runs import headline_lambda

METRIC = "rare_acc"


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


#: A gap must exceed this many standard errors to count as held.
NOISE_FACTOR = 2.0


def _stderr(r: _Row) -> float:
    return r.std.get(METRIC, 0.0) / math.sqrt(r.n_ok) if r.n_ok > 1 else 0.0


def compare(claim: str, better: _Row | None, worse: _Row | None, missing: str) -> Direction:
    """Verdict on ``better`` > ``worse`` in rare-class accuracy; ``missing`` names absent rows."""
    if better is None or worse is None:
        return Direction(claim, "not measured", f"row missing or without results: {missing}")
    a, b = better.mean[METRIC], worse.mean[METRIC]
    diff, noise, how = a - b, math.hypot(_stderr(better), _stderr(worse)), ""
    seeds_a, seeds_b = better.by_seed.get(METRIC, {}), worse.by_seed.get(METRIC, {})
    common = sorted(set(seeds_a) & set(seeds_b))
    if len(common) >= 2:
        diffs = [seeds_a[s] - seeds_b[s] for s in common]
        diff, noise = statistics.fmean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))
        how = f", paired over {len(common)} seeds"
    evidence = (
        f"{better.name} {a:.1f} vs {worse.name} {b:.1f} ({diff:+.1f} pp; standard error {noise:.1f} pp{how})"
    )
    if diff <= 0:
        return Direction(claim, "did not hold", evidence)
    if min(better.n_ok, worse.n_ok) < 2:
        return Direction(claim, "held (one seed: no noise estimate)", evidence)
    return Direction(claim, "held" if diff > NOISE_FACTOR * noise else "held, within seed noise", evidence)


def directions(rows: Sequence[_Row]) -> list[Direction]:
    """The paper's directions at λ = 1 (or real images), and the λ = 0 control."""
    lam = headline_lambda(r.phylo_signal for r in rows)
    at = f"λ = {lam:g}" if lam is not None else "real images"
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
    claim0 = "At λ = 0 the genetic anchors lose their edge over shuffled/random anchors"
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
    return found
