"""The retrieval report: one table per λ, rows image->image / image->DNA x method, t intervals over cells."""

from __future__ import annotations

import csv
from pathlib import Path

from report_fixtures import make_job

from visgen.report.retrieval import COLUMNS, main


def _retrieval(dna: float, image: float) -> dict[str, float]:
    """Every column at ``dna`` for image->DNA (sgt_raw / ridge) and ``image`` for image->image (ridge)."""
    out = {"chance_zsl": 0.5, "test/gzsl/sgt_raw/ridge/k0/zsl_top1": 0.5}
    for prefix, value in (("dna/sgt_raw/ridge", dna), ("image/images/ridge", image)):
        out.update({f"test/retrieval/{prefix}/{key}": value for _, key in COLUMNS})
        out.update({f"test/retrieval/{prefix}/{s}/n_queries": 10 for s in ("seen", "unseen")})
    return out


def test_rows_average_cells_with_a_t_interval_per_lambda_and_old_jobs_are_left_out(tmp_path: Path) -> None:
    root = tmp_path / "gzsl_quick"
    make_job(root, "gzsl", 0, 1.0, stages=("gzsl",), metrics=_retrieval(0.5, 0.9))
    make_job(root, "gzsl", 1, 1.0, stages=("gzsl",), metrics=_retrieval(0.7, 0.9))
    make_job(root, "gzsl", 0, 0.0, stages=("gzsl",), metrics=_retrieval(0.25, 0.8))
    make_job(root, "gzsl", 1, 0.0, stages=("gzsl",), metrics={"chance_zsl": 0.5})  # before retrieval existed
    main([str(root), "--out", str(tmp_path / "reports"), "--command", "pytest"])
    md = (tmp_path / "reports" / "retrieval_gzsl_quick.md").read_text()
    assert "Machine: fixture-host." in md and "Data: ForamSim — SYNTHETIC images" in md
    assert "(3 cells; 1 jobs left out)" in md and "no test/retrieval/* metrics" in md
    lam1 = md.split("## λ = 1")[1].split("## λ = 0")[0]
    rows = [line for line in lam1.splitlines() if line.startswith("| image")]
    assert [r.split(" | ")[:4] for r in rows] == [["| image→image", "images", "ridge", "2"],
                                                  ["| image→DNA", "sgt_raw", "ridge", "2"]]  # fmt: skip
    # mean 60 %, sd 0.1414 -> half width t(0.975, 1) * 0.1414 / sqrt 2 = 12.706 * 0.1 = 127.06 pp.
    assert rows[1].count("60.0 [-67.1, 187.1]") == len(COLUMNS)
    assert rows[0].count("90.0 [90.0, 90.0]") == len(COLUMNS)
    lam0 = md.split("## λ = 0")[1]
    assert "| image→DNA | sgt_raw | ridge | 1 | 25.0 |" in lam0  # one cell: no interval
    with open(tmp_path / "reports" / "retrieval_gzsl_quick.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4
    first = next(r for r in table if r["kind"] == "dna" and r["data.phylo_signal"] == "1")
    assert first["seen/genus/macro_top5_mean"] == "0.6000" and first["n"] == "2"
