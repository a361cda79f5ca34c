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
    by_seed: dict[str, dict[int, float]] = field(default_factory=dict)


def _row(name: str, rare: float, std: float, lam: float | None = 1.0, n: int = 3) -> Row:
    return Row(name, lam, {"rare_acc": rare}, {"rare_acc": std}, n)


#: t_{0.975, df=2} from a printed t table (4.303): the 95 % two-sided critical value for 3 seeds.
T_975_DF2 = 4.302652729911275


def test_a_gap_inside_the_95_percent_t_interval_is_within_seed_noise() -> None:
    # Standard error of the gap = hypot(3/sqrt(3), 3/sqrt(3)) = sqrt(6) = 2.449; df = 3 - 1 = 2, so "held" needs
    # a gap > 4.303 x 2.449 = 10.54 pp (the old "2 standard errors" rule would have called 5 pp held).
    half = T_975_DF2 * math.sqrt(6)
    d = compare("c", _row("a", 54.0, 3.0), _row("b", 50.0, 3.0), "")
    assert d.verdict == "held, within seed noise"
    assert f"95 % t interval ± {half:.1f} pp" in d.evidence and f"{half:.1f}" == "10.5"
    assert compare("c", _row("a", 60.0, 3.0), _row("b", 50.0, 3.0), "").verdict == "held, within seed noise"
    assert compare("c", _row("a", 61.0, 3.0), _row("b", 50.0, 3.0), "").verdict == "held"
    assert compare("c", _row("a", 49.0, 0.0), _row("b", 50.0, 0.0), "").verdict == "did not hold"
    assert compare("c", None, _row("b", 50.0, 0.0), "a, b").verdict == "not measured"


def test_unpaired_rows_use_the_smaller_seed_count_for_the_degrees_of_freedom() -> None:
    # n = 3 and 2: df = 2 - 1 = 1, t_{0.975,1} = 12.706; se = hypot(1/sqrt(3), 1/sqrt(2)) = 0.9129 -> ± 11.6 pp.
    d = compare("c", _row("a", 61.0, 1.0, n=3), _row("b", 50.0, 1.0, n=2), "")
    assert "± 11.6 pp" in d.evidence and d.verdict == "held, within seed noise"


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


def test_rows_sharing_seeds_are_compared_seed_by_seed() -> None:
    # Seeds move both rows together (60 ± 10 and 55.3 ± 10.5), the per-seed gap is steady: 5, 5, 4 pp.
    a = Row(
        "ltr_align", 1.0, {"rare_acc": 60.0}, {"rare_acc": 10.0}, 3, {"rare_acc": {0: 50.0, 1: 60.0, 2: 70.0}}
    )
    b = Row("ltr", 1.0, {"rare_acc": 55.33}, {"rare_acc": 10.5}, 3, {"rare_acc": {0: 45.0, 1: 55.0, 2: 66.0}})
    d = compare("c", a, b, "")
    # Paired: mean gap 14/3 = 4.67, standard error stdev(5, 5, 4)/sqrt(3) = 0.577/1.732 = 0.333, times t = 4.303
    # -> ± 1.43 pp: held. Unpaired it would be within noise: hypot(10/sqrt(3), 10.5/sqrt(3)) x 4.303 = 36 pp.
    assert d.verdict == "held"
    assert "(+4.7 pp; 95 % t interval ± 1.4 pp, paired over 3 seeds)" in d.evidence
    # Only one seed in common: no paired estimate, the unpaired standard errors decide.
    b_other = Row("ltr", 1.0, b.mean, b.std, 3, {"rare_acc": {2: 66.0, 3: 40.0, 4: 60.0}})
    assert compare("c", a, b_other, "").verdict == "held, within seed noise"


def test_questions_about_the_gain_follow_the_claims_only_when_their_rows_were_run() -> None:
    claims = [_row("rtl_softmax", 30.0, 1.0), _row("ltr", 40.0, 1.0), _row("ltr_align", 41.0, 1.0)]
    assert len(directions(claims)) == 5  # four claims at λ = 1 and the λ = 0 control; no question
    found = directions([*claims, _row("ltr_crt", 55.0, 1.0), _row("ltr_authors", 38.0, 1.0)])
    assert [d.claim.split(" (")[0] for d in found[5:]] == [
        "Alignment beats class-balanced re-training of the same parameters",
        "The authors' protocol raises rare-class accuracy over ours",
    ]
    assert (
        found[5].verdict == "did not hold" and "ltr_align 41.0 vs ltr_crt 55.0 (-14.0 pp" in found[5].evidence
    )
    assert found[6].verdict == "did not hold" and "(λ = 1)" in found[6].claim


def test_rows_run_on_different_seeds_are_compared_on_the_seed_both_ran() -> None:
    a = Row("ltr_align", 1.0, {"rare_acc": 24.0}, {"rare_acc": 1.0}, 2, {"rare_acc": {0: 23.0, 1: 25.0}})
    b = Row("ltr_align_shuffled", 1.0, {"rare_acc": 23.0}, {"rare_acc": 0.0}, 1, {"rare_acc": {0: 23.0}})
    d = compare("c", a, b, "")
    # Mean against mean would say +1.0; on seed 0, the only seed both ran, the rows are equal.
    assert d.verdict == "did not hold" and "ltr_align 23.0 vs ltr_align_shuffled 23.0 (+0.0 pp" in d.evidence
    assert "seed 0, the one both ran" in d.evidence


def test_a_gap_that_prints_as_zero_did_not_hold() -> None:
    a = Row("a", 1.0, {"rare_acc": 26.1}, {}, 3, {"rare_acc": {0: 26.1 + 1e-13, 1: 22.2 + 1e-13, 2: 30.0}})
    b = Row("b", 1.0, {"rare_acc": 26.1}, {}, 3, {"rare_acc": {0: 26.1, 1: 22.2, 2: 30.0}})
    d = compare("c", a, b, "")
    assert d.verdict == "did not hold" and "(+0.0 pp;" in d.evidence
