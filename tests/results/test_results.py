"""The run-folder schema: RunRecord round trips, sweep cells from overrides, grouping by any axis, t intervals."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from report_fixtures import make_job, metrics_of

from visgen.report.table import aggregate, load_published, write_report
from visgen.results import (
    RunRecord,
    canonical,
    group,
    load_runs,
    read_anchors,
    read_config,
    read_metrics,
    t_interval,
    varying_axes,
    write_anchors,
    write_config,
    write_metrics,
)


def test_a_written_run_json_reads_back_with_its_cell(tmp_path: Path) -> None:
    rec = RunRecord(
        tmp_path, "ltr_align", "quick", 2, overrides=["+experiment=ltr_align", "seed=2", "data.sim_seed=1"]
    )
    rec.status, rec.data, rec.machine = "ok", {"source": "forams_sim", "phylo_signal": 0.5}, "host"
    rec.write()
    write_metrics(tmp_path / "align", {"test/knn/acc": 0.75, "test/knn/rare_acc": float("nan"), "k": 7})
    back = RunRecord.read(tmp_path)
    assert (back.name, back.profile, back.seed, back.status, back.machine) == (
        "ltr_align",
        "quick",
        2,
        "ok",
        "host",
    )
    assert back.cell == {"experiment": "ltr_align", "seed": "2", "data.sim_seed": "1"}
    # No .hydra/config.yaml: the stage is the last that could run; NaN went to JSON as null and comes back NaN.
    assert back.stage == "align" and back.k == 7 and back.phylo_signal == 0.5
    m = back.metrics()
    assert m["test/knn/acc"] == 0.75 and math.isnan(m["test/knn/rare_acc"]) and "k" not in m
    assert json.loads((tmp_path / "align" / "metrics.json").read_text())["test/knn/rare_acc"] is None


def test_a_job_without_overrides_in_run_json_reads_them_from_hydra(tmp_path: Path) -> None:
    job = make_job(tmp_path, "ltr", 0, metrics=metrics_of(0.8, 0.4))
    (job / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump(["+experiment=ltr", "hydra.verbose=true", "k=3"])
    )
    rec = RunRecord.read(job)
    assert rec.cell == {"experiment": "ltr", "k": "3"}  # Hydra's own keys are no cell
    # Keys the job did not override come from its composed config; absent ones read "null".
    assert rec.value("seed") == "0" and rec.value("data.phylo_signal") == "1" and rec.value("nope") == "null"


def test_values_compare_as_numbers_and_nulls() -> None:
    assert canonical("1.0") == canonical(1) == canonical("'1'") == "1"
    assert canonical(0.25) == canonical("0.25") == "0.25"
    assert canonical(None) == canonical("null") == canonical("None") == "null"
    assert canonical(True) == canonical("True") == canonical("true") == "true" and canonical("ltr") == "ltr"
    assert (
        canonical(False) == canonical("False") == "false"
    )  # a job's cell vs the sweep's data.sim_published=false
    # A list override: multirun.yaml's parsed list against the job's recorded "[a,b]" (gzsl.encoders=[sgt,kmer]).
    assert canonical(["sgt", "kmer"]) == canonical("[sgt,kmer]") == canonical("[sgt, kmer]") == "[sgt,kmer]"
    assert canonical([1.0, "True"]) == canonical("[1,true]") == "[1,true]"
    # An interpolation: multirun.yaml keeps data.sim_seed=${seed}, the job's overrides Hydra's escaped spelling.
    assert canonical("${seed}") == canonical("$\\{seed\\}") == "${seed}"


def test_t_interval_matches_the_t_table() -> None:
    # 1, 2, 3, 4: mean 2.5, s = 1.291, se = 0.6455; t_{0.975, 3} = 3.182 (printed table) -> ± 2.054.
    mean, half = t_interval([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and half == pytest.approx(3.182446305284263 * math.sqrt(5 / 3) / 2, rel=1e-12)
    # 90 %: t_{0.95, 3} = 2.353.
    assert t_interval([1.0, 2.0, 3.0, 4.0], level=0.90)[1] == pytest.approx(
        2.353363434801823 * 0.6454972243679028
    )
    assert math.isnan(t_interval([5.0])[1]) and t_interval([5.0])[0] == 5.0


def test_anchors_are_read_from_the_npy_the_pipeline_saves(tmp_path: Path) -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_anchors(tmp_path, a)
    np.testing.assert_array_equal(read_anchors(tmp_path), a)
    assert read_anchors(tmp_path / "none") is None and read_metrics(tmp_path / "none") == {}


def _draw_sweep(root: Path) -> None:
    """Two ForamSim draws x two seeds of ltr and ltr_align, launched as one sweep over data.sim_seed."""
    root.mkdir(parents=True)
    task = ["+experiment=ltr,ltr_align", "seed=0,1", "data.sim_seed=0,1"]
    (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": task}}}))
    rare = {
        ("ltr", 0): (0.40, 0.44),
        ("ltr", 1): (0.20, 0.30),
        ("ltr_align", 0): (0.50, 0.52),
        ("ltr_align", 1): (0.30, 0.34),
    }
    for (name, draw), by_seed in rare.items():
        for seed, r in enumerate(by_seed):
            job = make_job(root / f"draw{draw}", name, seed, metrics=metrics_of(0.8, r))
            over = [f"+experiment={name}", f"seed={seed}", f"data.sim_seed={draw}"]
            (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(over))


def test_a_sweep_over_draws_groups_by_draw_and_averages_over_seeds(tmp_path: Path) -> None:
    root = tmp_path / "paper_table_draws"
    _draw_sweep(root)
    records = load_runs(root)
    assert len(records) == 8 and all(r.status == "ok" for r in records)
    assert varying_axes(records) == ["experiment", "data.sim_seed"]  # seed is the replicate, λ does not vary
    groups = group(records, ["experiment", "data.sim_seed"])
    assert sorted(groups) == [("ltr", "0"), ("ltr", "1"), ("ltr_align", "0"), ("ltr_align", "1")]
    rows = {(r.name, r.axes["data.sim_seed"]): r for r in aggregate(records, load_published())}
    assert rows[("ltr", "1")].mean["rare_acc"] == pytest.approx(25.0) and rows[("ltr", "1")].seeds == [0, 1]
    md = write_report(root, tmp_path / "reports")[0].read_text()
    assert "| experiment | λ | draw | stage |" in md and "KNN k = 5" in md
    assert "| ltr_align | 1 | 1 | pretrain | 2/2 | 80.0 ± 0.0 | 80.0 ± 0.0 | 32.0 ± 2.8 |" in md
    # One verdict set per draw: draw 0 gains +9 pp (10, 8 paired), draw 1 +7 pp (10, 4).
    assert "Alignment raises it further (λ = 1, data.sim_seed 0)" in md
    assert "ltr_align 51.0 vs ltr 42.0 (+9.0 pp" in md and "ltr_align 32.0 vs ltr 25.0 (+7.0 pp" in md


def test_k_in_the_report_title_is_read_from_the_runs(tmp_path: Path) -> None:
    root = tmp_path / "paper_table_k"
    job = make_job(root, "ltr", 0, metrics=metrics_of(0.8, 0.4))
    raw = read_metrics(job / "pretrain")
    write_metrics(job / "pretrain", {**raw, "k": 10})
    md = write_report(root, tmp_path / "reports")[0].read_text()
    assert md.startswith("# Paper table (Karaderi et al. 2023, Table 1) — accuracy in %, KNN k = 10")


def test_bookkeeping_overrides_do_not_split_rows(tmp_path: Path) -> None:
    # Two launches of the same cells, one with the progress bar off and its own W&B group name: one row each.
    root = tmp_path / "paper_table_books"
    for seed, extra in ((0, ["callbacks.progress_bar=null", "sweep_name=a"]), (1, ["+sweep=paper_table"])):
        job = make_job(root, "ltr", seed, metrics=metrics_of(0.8, 0.4 + seed / 10))
        (job / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump(["+experiment=ltr", f"seed={seed}", *extra])
        )
    records = load_runs(root)
    assert varying_axes(records) == [] and [len(r.seeds) for r in aggregate(records, {})] == [2]


def test_a_config_value_given_by_interpolation_compares_resolved(tmp_path: Path) -> None:
    # Hydra saves .hydra/config.yaml unresolved: data.sim_size is "${data.image_size}" unless overridden.
    job = make_job(tmp_path, "ltr", 0, metrics=metrics_of(0.8, 0.4))
    cfg = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
    cfg["data"].update(image_size=64, sim_size="${data.image_size}", root="${hydra:runtime.cwd}")
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    rec = RunRecord.read(job)
    assert rec.value("data.sim_size") == "64" == canonical("64")
    assert (
        rec.value("data.root") == "${hydra:runtime.cwd}"
    )  # a resolver only a running job has: left as written


def test_the_resolved_config_reads_back_and_hydras_copy_is_the_fallback(tmp_path: Path) -> None:
    assert read_config(tmp_path) is None
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text(
        yaml.safe_dump({"data": {"image_size": "${size}"}, "size": 64})
    )
    assert read_config(tmp_path) == {"data": {"image_size": "${size}"}, "size": 64}  # Hydra's: unresolved
    written = {"data": {"image_size": 64, "root": None}, "stages": ["pretrain", "align"], "size": 64}
    write_config(tmp_path, written)
    assert read_config(tmp_path) == written  # ours wins over Hydra's, key order and None kept
    assert list(read_config(tmp_path)) == ["data", "stages", "size"]
