"""The GZSL report's statistics: t intervals with df = n - 1 and the pooled permutation p-value."""

from __future__ import annotations

import numpy as np
import pytest

from visgen.report.gzsl import paired_gap, pooled_p, t_interval


def test_t_interval_uses_student_t_with_n_minus_one_degrees_of_freedom() -> None:
    mean, low, high, n = t_interval([0.2, 0.4, 0.3, 0.5, 0.6])
    # mean 0.4, sd 0.158114, t(0.975, 4) = 2.776445 -> half width 0.196324
    assert (mean, n) == (pytest.approx(0.4), 5)
    assert low == pytest.approx(0.4 - 0.196324, abs=1e-6) and high == pytest.approx(0.4 + 0.196324, abs=1e-6)


def _cell(obs: float, null: list[float], shuffled: float = 0.25) -> dict:
    return {
        "metrics": {
            "test/gzsl/sgt_raw/ridge/k0/zsl_top1": obs,
            "test/gzsl/shuffled/ridge/k0/zsl_top1": shuffled,
        },
        "null": {"sgt_raw/ridge/zsl_top1": np.array(null)},
    }


def test_pooled_p_treats_the_ith_permutation_of_every_cell_as_one_draw_of_the_null_mean() -> None:
    cells = [_cell(0.5, [0.2, 0.6, 0.3]), _cell(0.3, [0.2, 0.1, 0.4])]
    # observed mean 0.4; null means 0.2, 0.35, 0.35 -> none >= 0.4 -> p = 1 / 4
    assert pooled_p(cells, "sgt_raw", "ridge") == pytest.approx(1 / 4)
    cells[1]["null"]["sgt_raw/ridge/zsl_top1"] = np.array([0.2, 0.3, 0.6])  # null means 0.2, 0.45, 0.45
    assert pooled_p(cells, "sgt_raw", "ridge") == pytest.approx(3 / 4)


def test_the_genetic_minus_shuffled_gap_is_paired_within_each_cell() -> None:
    cells = [_cell(0.5, [0.1], shuffled=0.3), _cell(0.4, [0.1], shuffled=0.3)]
    mean, _, _, n = paired_gap(cells, "sgt_raw", "ridge", 0)
    assert mean == pytest.approx(0.15) and n == 2


def _full_cell(lam: float, oracle: float, sgt: float, shuffled: float = 0.25) -> dict:
    """A cell with every anchor/method at k = 0: oracles at ``oracle``, SGT at ``sgt``, the rest at ``shuffled``."""
    from visgen.report.gzsl import METHODS

    ladder = ["oracle_traits", "oracle_tree", "sgt_raw", "sgt_centred", "sgt_whitened", "shuffled", "random"]

    level = {"oracle_traits": oracle, "oracle_tree": oracle, "sgt_raw": sgt, "sgt_centred": sgt}
    metrics = {f"test/gzsl/{a}/{m}/k0/zsl_top1": level.get(a, shuffled) for a in ladder for m in METHODS}
    null = {f"{a}/{m}/zsl_top1": np.full(99, 0.25) for a in ladder for m in METHODS}
    return {"lambda": lam, "chance": 0.25, "metrics": metrics, "null": null}


def test_one_cell_gives_no_interval_so_no_verdict_says_held_or_did_not_hold() -> None:
    from visgen.report.gzsl import verdicts

    one = verdicts([_full_cell(1.0, oracle=0.9, sgt=0.8), _full_cell(0.0, oracle=0.25, sgt=0.25)])
    assert len(one) == 3 and all("UNDECIDED" in v for v in one)
    assert all("DID NOT HOLD" not in v and ": HELD" not in v for v in one)
    assert "90.0" in one[0]  # the point value is still reported
    two = verdicts([_full_cell(1.0, oracle=o, sgt=o - 0.1) for o in (0.9, 0.85)])
    assert two[0].startswith("1. Oracle ≫ chance at λ = 1: HELD")
    assert (
        "2. SGT > shuffled at λ = 1 (paired gap in ZSL top-1 above 0 and permutation p < 0.05, both): HELD"
        in two[1]
    )


def test_the_table_shows_where_unseen_errors_land_and_a_dash_for_cells_before_it(tmp_path) -> None:
    from report_fixtures import make_job

    from visgen.report.gzsl import write_report

    root = tmp_path / "gzsl_quick"
    for seed, (genus, dist) in enumerate([(0.6, 1.1), (0.8, 1.3)]):
        p = "test/gzsl/sgt_raw/ridge/k0/"
        metrics = {f"{p}{key}": 0.5 for key in ("zsl_top1", "unseen_top1", "unseen_top5", "seen_acc", "h")}
        metrics.update({f"{p}unseen_genus_acc": genus, f"{p}unseen_error_tree_dist": dist})
        # An anchor scored before the outcomes existed: its row must still render.
        metrics.update({"test/gzsl/shuffled/ridge/k0/zsl_top1": 0.5, "chance_zsl": 0.5})
        make_job(root, "gzsl", seed, stages=("gzsl",), metrics=metrics)
    md = write_report(root, tmp_path / "reports", "pytest").read_text()
    assert "| unseen genus | unseen err dist | p |" in md
    # Genus in % with its t interval (df = 1: half width 12.706 * sd / sqrt 2); the distance as it is.
    row = next(line for line in md.splitlines() if line.startswith("| sgt_raw | ridge |"))
    assert "| 70.0 [-57.1, 197.1] | 1.20 [-0.07, 2.47] |" in row
    row = next(line for line in md.splitlines() if line.startswith("| shuffled | ridge |"))
    assert "| – | – |" in row


def test_encoder_rungs_are_read_from_the_metrics() -> None:
    """A second encoder's rungs enter the ladder (between oracles and controls) without any list naming them."""
    from visgen.report.gzsl import genetic_rungs, ladder

    names = ["shuffled", "kmer_raw", "oracle_tree", "sgt_raw", "kmer_whitened", "kmer_centred", "equiangular"]
    cell = {"metrics": {f"test/gzsl/{a}/ridge/k0/zsl_top1": 0.5 for a in names} | {"chance_zsl": 0.25}}
    assert ladder([cell]) == [
        "oracle_tree", "kmer_raw", "sgt_raw", "kmer_whitened", "kmer_centred", "shuffled", "equiangular"
    ]  # fmt: skip
    assert genetic_rungs([cell]) == ["kmer_raw", "sgt_raw", "kmer_centred"]


def test_the_novelty_metrics_are_no_rung_of_the_ladder() -> None:
    """``test/gzsl/novelty/*`` sits where an anchor's name sits; the report must not list it as one."""
    from visgen.report.gzsl import ladder

    cell = {"metrics": {"test/gzsl/sgt_raw/ridge/k0/zsl_top1": 0.5, "test/gzsl/novelty/auroc": 0.7,
                        "test/gzsl/novelty/n_novel": 6}}  # fmt: skip
    assert ladder([cell]) == ["sgt_raw"]
