"""The DNA-encoder report's verdict: decided only where the paired interval and the permutation test agree."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from visgen.report.dna_encoders import contrasts, draws_text, rows, side, verdict


def _cell(tree: str, lam: float, genetic: float, shuffled: float, null: list[float]) -> dict:
    metrics = {"test/gzsl/sgt_raw/ridge/k0/zsl_top1": genetic, "test/gzsl/shuffled/ridge/k0/zsl_top1": shuffled,
               "test/gzsl/kmer_raw/ridge/k0/zsl_top1": genetic, "test/gzsl/aligned_raw/ridge/k0/zsl_top1": genetic,
               "test/gzsl/sgt_raw/tree_r": 0.3}  # fmt: skip
    nulls = {f"{a}/ridge/zsl_top1": np.array(null) for a in ("sgt_raw", "kmer_raw", "aligned_raw")}
    return {"lambda": lam, "chance": 0.25, "metrics": metrics, "null": nulls,
            "record": SimpleNamespace(data={"tree": tree})}  # fmt: skip


LOW_NULL = [0.2] * 99  # every permutation far below: p = 1 / 100
HIGH_NULL = [0.9] * 99  # every permutation above: p = 1


def test_a_side_is_decided_only_when_interval_and_permutation_agree() -> None:
    beats = [_cell("aze2011", 1.0, 0.5 + 0.01 * i, 0.3, LOW_NULL) for i in range(3)]
    assert side(beats, "sgt_raw", "ridge") == "beats"
    flat = [_cell("aze2011", 1.0, 0.3 + d, 0.3, HIGH_NULL) for d in (-0.05, 0.0, 0.05)]
    assert side(flat, "sgt_raw", "ridge") == "does not"
    # The interval says "above shuffled" but the permutations do not: no verdict either way.
    disagree = [_cell("aze2011", 1.0, 0.5 + 0.01 * i, 0.3, HIGH_NULL) for i in range(3)]
    assert side(disagree, "sgt_raw", "ridge") == "undecided"
    assert side(beats[:1], "sgt_raw", "ridge") == "undecided"  # one cell: no interval


@pytest.mark.parametrize(
    "lam1, lam0, word",
    [("beats", "does not", "HELD"), ("does not", "does not", "DID NOT HOLD"), ("beats", "beats", "DID NOT HOLD"),
     ("beats", "undecided", "UNDECIDED"), ("undecided", "does not", "UNDECIDED")],
)  # fmt: skip
def test_the_verdict_needs_both_lambdas_decided(lam1: str, lam0: str, word: str) -> None:
    assert verdict(lam1, lam0) == word


def test_k_mer_encoders_on_the_k_mer_tree_are_marked_circular_and_the_aligned_one_is_not() -> None:
    cells = [_cell(t, 1.0, 0.5, 0.3, LOW_NULL) for t in ("kmer_upgma", "aze2011") for _ in range(2)]
    circular = {(r["tree"], r["anchor"]) for r in rows(cells) if r["circular"]}
    assert circular == {("kmer_upgma", "sgt_raw"), ("kmer_upgma", "kmer_raw")}
    tree_r = [r["tree_r"][0] for r in rows(cells) if r["anchor"] == "sgt_raw"]
    assert tree_r == pytest.approx([0.3] * 4)  # 2 trees x 2 methods


def test_a_verdict_on_fewer_than_thirty_cells_per_lambda_is_marked_provisional(tmp_path) -> None:
    from unittest.mock import patch

    from visgen.report import dna_encoders

    cells = [_cell("aze2011", lam, g, 0.3, null) for lam, g, null in ((1.0, 0.5, LOW_NULL), (0.0, 0.296, HIGH_NULL))
             for _ in range(3)]  # fmt: skip
    for i, c in enumerate(cells):  # distinct values so every interval has a width
        c.update(machine="fixture-host", wall_s=60.0)
        c["metrics"] = {k: v + 0.001 * i if k.endswith("zsl_top1") and "shuffled" not in k else v
                        for k, v in c["metrics"].items()}  # fmt: skip
    with patch.object(dna_encoders, "collect", return_value=cells):
        md = dna_encoders.write_report([tmp_path], tmp_path, "pytest", "t").read_text()
    assert "aze2011 / sgt_raw / ridge: **HELD (provisional: 3 < 30 cells per λ)**" in md
    assert "![paired gap to shuffled anchors per tree](t_gaps.png)" in md
    assert (tmp_path / "t_gaps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rung_without_a_permutation_null_gets_no_verdict_rather_than_undecided(tmp_path) -> None:
    from unittest.mock import patch

    from visgen.report import dna_encoders

    cells = [_cell("aze2011", lam, 0.5 + 0.001 * i, 0.3, LOW_NULL) for lam in (1.0, 0.0) for i in range(3)]
    for c in cells:
        c.update(machine="fixture-host", wall_s=60.0)
        del c["null"]["kmer_raw/ridge/zsl_top1"]
    with patch.object(dna_encoders, "collect", return_value=cells):
        md = dna_encoders.write_report([tmp_path], tmp_path, "pytest", "t").read_text()
    assert "- aze2011 / kmer_raw / ridge: no verdict (no permutation null ran for this rung" in md
    assert "- aze2011 / sgt_raw / ridge: **" in md


def test_the_header_says_whether_the_cells_share_one_data_draw_or_draw_one_per_training_seed() -> None:
    shared = [{"seed": s, "record": SimpleNamespace(data={"seed": 0})} for s in range(3)]
    assert draws_text(shared).startswith("one ForamSim draw (0) shared by every cell")
    per_seed = [{"seed": s, "record": SimpleNamespace(data={"seed": s})} for s in range(3)]
    assert draws_text(per_seed) == "3 ForamSim draws (0, 1, 2), one per training seed"
    mixed = [{"seed": 0, "record": SimpleNamespace(data={"seed": d})} for d in (4, 7)]
    assert draws_text(mixed) == "2 ForamSim draws (4, 7)"


def test_each_encoder_is_compared_with_sgt_paired_per_cell_and_per_data_draw() -> None:
    # aligned − sgt = 0.1, 0.2 in draw 0 and 0.3, 0.4 in draw 1 (the ridge only; kmer equals sgt).
    cells = []
    for draw, diffs in ((0, (0.1, 0.2)), (1, (0.3, 0.4))):
        for d in diffs:
            c = _cell("aze2011", 1.0, 0.4, 0.3, LOW_NULL)
            c["metrics"]["test/gzsl/aligned_raw/ridge/k0/zsl_top1"] = 0.4 + d
            c["record"] = SimpleNamespace(data={"tree": "aze2011", "seed": draw})
            cells.append(c)
    versus = {(v["anchor"], v["method"]): v for v in contrasts(cells)}
    assert set(versus) == {("kmer_raw", "ridge"), ("aligned_raw", "ridge")} | {
        (a, "aligned") for a in ("kmer_raw", "aligned_raw")
    }
    aligned = versus[("aligned_raw", "ridge")]
    # Over 4 cells: mean 0.25, sd 0.1291, t(0.975, 3) = 3.1824 -> half-width 0.2054.
    assert aligned["cells"][0] == pytest.approx(0.25)
    assert aligned["cells"][2] - aligned["cells"][0] == pytest.approx(0.2054, abs=1e-4)
    # Over 2 draws (means 0.15, 0.35): sd 0.1414, t(0.975, 1) = 12.706 -> half-width 1.2706.
    assert aligned["draws"][3] == 2
    assert aligned["draws"][2] - aligned["draws"][0] == pytest.approx(1.2706, abs=1e-3)
    assert versus[("kmer_raw", "ridge")]["cells"][0] == pytest.approx(0.0)
    assert all(v["base"] == "sgt_raw" for v in versus.values())
