"""experiments/paper_table/align_probes.py: pairing of alignment variants by (draw, seed), against hand sums."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from probe_jobs import load_script

probes = load_script("align_probes")


def _job(
    root: Path,
    name: str,
    overrides: list[str],
    ltr_rare: float,
    aligned_rare: float,
    status: str = "ok",
    ncm_rare: tuple[float, float] | None = None,
) -> None:
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / ".hydra" / "config.yaml").write_text(
        yaml.safe_dump({"profile": {"name": "quick"}, "data": {"phylo_signal": 1.0}})
    )
    (job / "run.json").write_text(json.dumps({"status": status}))
    for i, (stage, rare) in enumerate((("pretrain", ltr_rare), ("align", aligned_rare))):
        (job / stage).mkdir()
        metrics = {"test/knn/rare_acc": rare, "test/knn/per_class_acc": 0.5, "test/knn/acc": 0.8}
        if ncm_rare is not None:
            metrics |= {"test/ncm/rare_acc": ncm_rare[i], "test/ncm/per_class_acc": 0.6, "test/ncm/acc": 0.7}
        (job / stage / "metrics.json").write_text(json.dumps(metrics))


def test_differences_pair_by_draw_and_seed(tmp_path: Path) -> None:
    # Two cells (draw 0 seed 0, draw 1 seed 0); genetic and shuffled anchors in each; a failed job is left out.
    base = ["+experiment=ltr_align", "align.margin=1.0", "seed=0"]
    _job(tmp_path, "0", [*base, "data.sim_seed=0", "align.control=none"], 0.20, 0.25)
    _job(tmp_path, "1", [*base, "data.sim_seed=0", "align.control=shuffled"], 0.20, 0.22)
    _job(tmp_path, "2", [*base, "data.sim_seed=1", "align.control=none"], 0.30, 0.31)
    _job(tmp_path, "3", [*base, "data.sim_seed=1", "align.control=shuffled"], 0.30, 0.34)
    _job(tmp_path, "4", [*base, "data.sim_seed=2", "align.control=none"], 0.0, 0.9, status="failed")
    jobs = [j for p in sorted(tmp_path.iterdir()) if (j := probes.read_job(p))]
    assert len(jobs) == 4 and {j["variant"] for j in jobs} == {"align.margin=1.0"}
    row = probes.table(jobs).splitlines()[2].split(" | ")
    # align - LTR on rare: (+5, +1) -> mean +3.0, SE = stdev(5, 1) / sqrt 2 = 2.0
    assert row[3:7] == ["2", "25.0", "28.0", "+3.0 (2.0)"]
    # genetic - shuffled on rare: (+3, -3) -> 0.0, SE = stdev(3, -3) / sqrt 2 = 3.0; no random control: "–"
    assert row[9] == "+0.0 (3.0)" and row[12].startswith("–")


def test_paper_table_control_experiments_count_as_controls(tmp_path: Path) -> None:
    _job(tmp_path, "a", ["+experiment=ltr_align_random", "+sweep=paper_table", "seed=1"], 0.2, 0.1)
    _job(tmp_path, "b", ["+experiment=ltr", "seed=1"], 0.2, 0.2)
    jobs = [j for p in sorted(tmp_path.iterdir()) if (j := probes.read_job(p))]
    assert [(j["variant"], j["control"], j["cell"]) for j in jobs] == [("(default)", "random", (0, 1))]


def test_nearest_class_mean_table_uses_test_ncm_and_leaves_out_older_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["+experiment=ltr_align", "seed=0", "align.control=none"]
    _job(tmp_path, "0", [*base, "data.sim_seed=0"], 0.20, 0.25, ncm_rare=(0.40, 0.46))
    _job(tmp_path, "1", [*base, "data.sim_seed=1"], 0.30, 0.31, ncm_rare=(0.50, 0.52))
    _job(tmp_path, "2", [*base, "data.sim_seed=2"], 0.0, 0.9)  # written before test/ncm/* existed
    probes.main(["--classifier", "ncm", str(tmp_path)])
    out = capsys.readouterr()
    row = out.out.splitlines()[2].split(" | ")
    # NCM rare, align - LTR: (+6, +2) -> +4.0, SE = stdev(6, 2) / sqrt 2 = 2.0; the older job is not a cell
    assert row[3:7] == ["2", "45.0", "49.0", "+4.0 (2.0)"]
    assert "1 of 3 job folders left out" in out.err
