"""Verdicts on the paper's directions against hand-computed standard errors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from visgen.report.directions import compare, directions


@dataclass
class Row:
    name: str
    phylo_signal: float | None
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    n_ok: int = 3


def _row(name: str, rare: float, std: float, lam: float | None = 1.0, n: int = 3) -> Row:
    return Row(name, lam, {"rare_acc": rare}, {"rare_acc": std}, n)


def test_a_gap_below_two_standard_errors_is_within_seed_noise() -> None:
    # Standard error = hypot(3/sqrt(3), 3/sqrt(3)) = sqrt(6) ≈ 2.449; "held" needs a gap > 2 x 2.449 = 4.9 pp.
    d = compare("c", _row("a", 54.0, 3.0), _row("b", 50.0, 3.0), "")
    assert d.verdict == "held, within seed noise"
    assert f"standard error {math.sqrt(6):.1f} pp" in d.evidence
    assert compare("c", _row("a", 55.0, 3.0), _row("b", 50.0, 3.0), "").verdict == "held"
    assert compare("c", _row("a", 49.0, 0.0), _row("b", 50.0, 0.0), "").verdict == "did not hold"
    assert compare("c", None, _row("b", 50.0, 0.0), "a, b").verdict == "not measured"


def test_baseline_stands_in_for_rtl_softmax_and_lambda0_edge_kept() -> None:
    rows = [
        _row("baseline", 30.0, 1.0),
        _row("ltr", 40.0, 1.0),
        _row("ltr_align", 60.0, 1.0, lam=0.0),
        _row("ltr_align_shuffled", 40.0, 1.0, lam=0.0),
        _row("ltr_align_random", 45.0, 1.0, lam=0.0),
    ]
    found = directions(rows)
    assert found[0].verdict == "held" and "ltr 40.0 vs baseline 30.0" in found[0].evidence
    # At λ = 0 genetic still beats the best control (random, 45) by 15 pp: the edge was NOT lost.
    assert found[4].verdict == "did not hold" and "vs ltr_align_random 45.0" in found[4].evidence
