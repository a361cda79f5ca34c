"""The paper-table writer on fixture multiruns whose means and stds are worked out by hand."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml
from report_fixtures import make_job, metrics_of, write_multirun_yaml

from visgen.errors import UserInputError
from visgen.report.directions import directions
from visgen.report.table import aggregate, load_published, write_report
from visgen.results import expected_cells, load_runs


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    root = tmp_path / "paper_table_quick"
    # Task overrides win over sweeper params, as in Hydra: seeds 0,1,2 although params say 0.
    root.mkdir()
    write_multirun_yaml(
        root,
        "rtl_softmax,ltr,ltr_align,ltr_align_shuffled,ltr_align_random,imagenet_align",
        "0",
        "1.0",
        task=["seed=0,1,2"],
    )
    for s, (acc, rare) in enumerate([(0.70, 0.30), (0.72, 0.30), (0.74, 0.30)]):
        make_job(root, "rtl_softmax", s, metrics=metrics_of(acc, rare))
    for s, (acc, rare) in enumerate([(0.80, 0.40), (0.82, 0.50), (0.84, 0.60)]):
        make_job(root, "ltr", s, metrics=metrics_of(acc, rare))
    both = ("pretrain", "align")
    make_job(root, "ltr_align", 0, stages=both, metrics=metrics_of(0.85, 0.70))
    make_job(root, "ltr_align", 1, stages=both, metrics=metrics_of(0.87, 0.72))
    make_job(root, "ltr_align", 2, stages=both, status="failed", error="RuntimeError: boom")
    for s, rare in enumerate([0.55, 0.56, 0.57]):
        make_job(root, "ltr_align_shuffled", s, stages=both, metrics=metrics_of(0.8, rare))
    make_job(root, "ltr_align_random", 0, stages=both, metrics=metrics_of(0.8, 0.50))
    make_job(root, "ltr_align_random", 1, stages=both, status=None)  # died before run.json
    # ltr_align_random seed 2 never ran: no folder at all, known only from multirun.yaml.
    for s in range(3):
        make_job(
            root, "imagenet_align", s, stages=("align",), status="unavailable", error="no ImageNet weights"
        )
    # λ = 0: genetic anchors no better than shuffled ones.
    make_job(root, "ltr_align", 0, 0.0, stages=both, metrics=metrics_of(0.6, 0.50))
    make_job(root, "ltr_align", 1, 0.0, stages=both, metrics=metrics_of(0.6, 0.52))
    make_job(root, "ltr_align_shuffled", 0, 0.0, stages=both, metrics=metrics_of(0.6, 0.50))
    make_job(root, "ltr_align_shuffled", 1, 0.0, stages=both, metrics=metrics_of(0.6, 0.53))
    return root


def _rows(multirun: Path) -> dict[tuple[str, float | None], object]:
    return {(r.name, r.phylo_signal): r for r in aggregate(load_runs(multirun), load_published())}


def test_mean_and_sample_std_over_seeds(multirun: Path) -> None:
    rows = _rows(multirun)
    ltr = rows[("ltr", 1.0)]
    # By hand: acc 80, 82, 84 -> 82 ± 2; rare 40, 50, 60 -> 50 ± 10 (sample std, ddof = 1).
    assert ltr.mean["acc"] == pytest.approx(82.0) and ltr.std["acc"] == pytest.approx(2.0)
    assert ltr.mean["rare_acc"] == pytest.approx(50.0) and ltr.std["rare_acc"] == pytest.approx(10.0)
    # Two finished seeds of three: 71 ± sqrt(2), the failed seed excluded from the mean.
    la = rows[("ltr_align", 1.0)]
    assert (la.n_ok, len(la.seeds), la.stage) == (2, 3, "align")
    assert la.mean["rare_acc"] == pytest.approx(71.0) and la.std["rare_acc"] == pytest.approx(2**0.5)


def test_failed_missing_and_unavailable_runs_are_shown(multirun: Path) -> None:
    rows = _rows(multirun)
    assert rows[("ltr_align", 1.0)].status == "1 failed, 2 ok"
    rnd = rows[("ltr_align_random", 1.0)]
    # seed 1: folder without run.json; seed 2: no folder, expected by the sweep.
    assert rnd.status == "2 missing, 1 ok" and rnd.seeds == [0, 1, 2]
    assert rows[("imagenet_align", 1.0)].status == "3 unavailable" and not rows[("imagenet_align", 1.0)].mean


def test_expected_jobs_follow_hydra_override_precedence(multirun: Path) -> None:
    jobs = expected_cells(multirun)
    assert (
        len(jobs) == 6 * 3
        and {"experiment": "ltr_align_random", "seed": "2", "data.phylo_signal": "1"} in jobs
    )


def test_published_values_sit_beside_the_right_rows(multirun: Path) -> None:
    rows = _rows(multirun)
    # From published_results.csv (Karaderi et al. 2023): baseline 77.7 / 37.4, row 5 83.3 / 48.2, row 7 rare 59.7.
    assert rows[("rtl_softmax", 1.0)].published == {"acc": 77.7, "rare_acc": 37.4}
    assert rows[("ltr", 1.0)].published == {"acc": 83.3, "rare_acc": 48.2}
    assert rows[("ltr_align", 1.0)].published == {"rare_acc": 59.7}
    assert rows[("ltr_align_shuffled", 1.0)].published == {}
    assert rows[("ltr_align", 0.0)].published == {}  # λ = 0 is our control, not the paper's setting


def test_directions_are_judged_from_the_numbers(multirun: Path) -> None:
    verdicts = [d.verdict for d in directions(aggregate(load_runs(multirun), load_published()))]
    # Paired by seed, 95 % t half-width = t_{0.975, n-1} x stdev / sqrt(n):
    # LTR - baseline: 10, 20, 30 pp -> +20 ± 4.303 x 10 / sqrt(3) = ± 24.8: held, within seed noise;
    # align - LTR (seeds 0, 1): 30, 22 -> +26 ± 12.706 x 5.657 / sqrt(2) = ± 50.8: within seed noise;
    # genetic - shuffled (seeds 0, 1): 15, 16 -> +15.5 ± 12.706 x 0.707 / sqrt(2) = ± 6.4: held;
    # random has one finished seed (50), so genetic is compared on that seed (70 > 50), with no noise estimate;
    # at λ = 0 genetic - shuffled: 0, -1 pp,
    # so the edge is lost.
    assert verdicts == [
        "held, within seed noise",
        "held, within seed noise",
        "held",
        "held (one seed: no noise estimate)",
        "held",
    ]
    assert (
        "(+20.0 pp; 95 % t interval ± 24.8 pp, paired over 3 seeds)"
        in directions(aggregate(load_runs(multirun), load_published()))[0].evidence
    )
    found = directions(aggregate(load_runs(multirun), load_published()))
    assert found[3].evidence.startswith(
        "ltr_align 70.0 vs ltr_align_random 50.0 (+20.0 pp; no interval, seed 0"
    )


def test_write_report_writes_markdown_and_csv(multirun: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    paths = write_report(multirun, out)
    md, csv_path = out / "paper_table_quick.md", out / "paper_table_quick.csv"
    assert paths[:2] == [md, csv_path]
    text = md.read_text()
    assert (
        "ForamSim — SYNTHETIC images, λ ∈ {1, 0}, scale 0.1, 64 px, intra_spread 0.5, nuisance 1.0, generator v2"
        in text
    )
    assert "| ltr | 1 | pretrain | 3/3 | 82.0 ± 2.0 | 82.0 ± 2.0 | 50.0 ± 10.0 |" in text
    assert "| ltr_align | 1 | align | 2/3 (1 failed, 2 ok) |" in text
    assert "seed 2: RuntimeError: boom" in text and "fixture-host" in text
    assert "- **command**: `python run.py -m seed=0,1,2`" in text  # from multirun.yaml's task overrides
    table = {
        (r["experiment"], r["phylo_signal"]): r for r in csv.DictReader(io.StringIO(csv_path.read_text()))
    }
    assert float(table[("ltr", "1.0")]["rare_acc_std"]) == pytest.approx(10.0)
    assert table[("ltr", "1.0")]["published_rare_acc"] == "48.2"
    assert table[("imagenet_align", "1.0")]["status"] == "3 unavailable"


def test_rows_follow_the_paper_order(multirun: Path) -> None:
    names = [(r.name, r.phylo_signal) for r in aggregate(load_runs(multirun), load_published())]
    assert names[:3] == [("rtl_softmax", 1.0), ("ltr", 1.0), ("ltr_align", 1.0)]
    assert names[-2:] == [("ltr_align", 0.0), ("ltr_align_shuffled", 0.0)]


def test_missing_or_empty_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no such multirun folder"):
        load_runs(tmp_path / "nope")
    with pytest.raises(UserInputError, match="holds no job folder"):
        load_runs(tmp_path)


def _two_sweeps(tmp_path: Path) -> tuple[Path, Path]:
    """The quick default's layout: the main grid at λ 1 and 0, plus the baseline row at λ 1 only."""
    main, extra = tmp_path / "paper_table_quick", tmp_path / "paper_table_quick_baseline"
    main.mkdir()
    extra.mkdir()
    write_multirun_yaml(
        main, "ltr,ltr_align", "0,1", "1.0,0.0", task=["+experiment=ltr,ltr_align", "seed=0,1"]
    )
    write_multirun_yaml(extra, "rtl_softmax", "0,1", "1.0", task=["+experiment=rtl_softmax", "seed=0,1"])
    both = ("pretrain", "align")
    for s in range(2):
        make_job(extra, "rtl_softmax", s, metrics=metrics_of(0.7, 0.2))
        for lam in (1.0, 0.0):
            make_job(main, "ltr", s, lam, metrics=metrics_of(0.8, 0.3 + 0.1 * s))
            make_job(main, "ltr_align", s, lam, stages=both, metrics=metrics_of(0.8, 0.4))
    return main, extra


def test_several_sweep_folders_make_one_table(tmp_path: Path) -> None:
    main, extra = _two_sweeps(tmp_path)
    rows = {(r.name, r.phylo_signal): r for r in aggregate(load_runs([main, extra]), load_published())}
    assert set(rows) == {
        ("rtl_softmax", 1.0),
        ("ltr", 1.0),
        ("ltr", 0.0),
        ("ltr_align", 1.0),
        ("ltr_align", 0.0),
    }
    assert rows[("ltr", 1.0)].mean["rare_acc"] == pytest.approx(35.0)
    assert rows[("rtl_softmax", 1.0)].n_ok == 2 and rows[("rtl_softmax", 1.0)].status == "ok"
    out = tmp_path / "reports"
    md = write_report([main, extra], out)[0]
    assert md == out / "paper_table_quick.md"  # the first folder names the report
    text = md.read_text()
    assert "- **command**: `python run.py -m +experiment=ltr,ltr_align seed=0,1`" in text
    assert "- **command**: `python run.py -m +experiment=rtl_softmax seed=0,1`" in text
    assert f"`visgen report {main} {extra}`" in text
    # The baseline's rare gain is read across the two folders: 35 (ltr) over 20 (rtl_softmax).
    assert "ltr 35.0 vs rtl_softmax 20.0" in text


def test_a_cell_expected_by_one_sweep_and_run_by_another_is_not_missing(tmp_path: Path) -> None:
    main, extra = _two_sweeps(tmp_path)
    write_multirun_yaml(main, "rtl_softmax,ltr,ltr_align", "0,1", "1.0,0.0")
    records = load_runs([main, extra])
    missing = {(r.name, r.seed, r.phylo_signal) for r in records if r.status == "missing"}
    assert missing == {("rtl_softmax", 0, 0.0), ("rtl_softmax", 1, 0.0)}


def test_a_cell_in_two_folders_comes_from_the_sweep_that_asked_for_it(tmp_path: Path) -> None:
    main, extra = _two_sweeps(tmp_path)
    # A leftover in the baseline folder (its sweep asked only for rtl_softmax): the main sweep's copy wins.
    make_job(extra, "ltr", 1, 0.0, metrics=metrics_of(0.8, 0.9))
    copies = [r for r in load_runs([main, extra]) if (r.name, r.seed, r.phylo_signal) == ("ltr", 1, 0.0)]
    assert (
        len(copies) == 1
        and main in copies[0].run_dir.parents
        and copies[0].metrics()["test/knn/rare_acc"] == 0.4
    )
    # Both sweeps asked for it: ambiguous.
    write_multirun_yaml(extra, "rtl_softmax,ltr", "0,1", "1.0,0.0")
    with pytest.raises(UserInputError, match=r"same cell \(ltr, seed 1, λ 0.0\) in two multirun folders"):
        load_runs([main, extra])


def test_nearest_class_mean_column_appears_only_when_runs_have_it(tmp_path: Path) -> None:
    root = tmp_path / "paper_table_quick"
    for s, ncm in enumerate([0.5, 0.7]):
        make_job(root, "ltr", s, metrics={**metrics_of(0.8, 0.3), "test/ncm/rare_acc": ncm})
    make_job(root, "rtl_softmax", 0, metrics=metrics_of(0.7, 0.2))  # an older run without the diagnostic
    md = write_report(root, tmp_path / "reports")[0].read_text()
    assert "| few | rare, nearest class mean | genus | err dist | published overall / rare |" in md
    assert (
        "| ltr | 1 | pretrain | 2/2 | 80.0 ± 0.0 | 80.0 ± 0.0 | 30.0 ± 0.0 | 80.0 ± 0.0 | 80.0 ± 0.0 | 80.0 ± 0.0 | 60.0 ± 14.1 |"
        in md
    )
    assert "| rtl_softmax | 1 | pretrain | 1/1 | 70.0 | 70.0 | 20.0 | 70.0 | 70.0 | 70.0 | – |" in md
    table = {
        r["experiment"]: r
        for r in csv.DictReader(io.StringIO((tmp_path / "reports" / "paper_table_quick.csv").read_text()))
    }
    assert (
        float(table["ltr"]["ncm_rare_acc_mean"]) == pytest.approx(60.0)
        and table["rtl_softmax"]["ncm_rare_acc_mean"] == ""
    )


def _plain_sweep(root: Path, *task: str) -> None:
    # The multirun.yaml of `python run.py -m +experiment=... [seed=...]` without +sweep=paper_table:
    # no sweeper params, so a seed or λ the command leaves out keeps each job's config value.
    root.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": list(task)}}}))


def test_a_sweep_that_leaves_seed_and_lambda_at_their_defaults_expects_no_phantom_jobs(
    tmp_path: Path,
) -> None:
    root = tmp_path / "plain"
    _plain_sweep(root, "+experiment=ltr,ltr_align")
    make_job(root, "ltr", 0, metrics=metrics_of(0.8, 0.4))
    assert expected_cells(root) == [{"experiment": "ltr"}, {"experiment": "ltr_align"}]
    cells = {(r.name, r.seed, r.phylo_signal, r.status) for r in load_runs(root)}
    # ltr ran (seed 0, λ 1 from its config); ltr_align never did, and is missing at the folder's λ, not "real".
    assert cells == {("ltr", 0, 1.0, "ok"), ("ltr_align", None, 1.0, "missing")}


def test_a_job_of_an_earlier_launch_is_counted_and_listed(tmp_path: Path) -> None:
    root = tmp_path / "paper_table_quick"
    _plain_sweep(root, "+experiment=ltr", "seed=1,2")  # the last launch; seed 0 came from an earlier one
    for s, rare in enumerate([0.30, 0.40, 0.50]):
        make_job(root, "ltr", s, metrics=metrics_of(0.8, rare))
    flagged = {r.seed: r.outside_grid for r in load_runs(root)}
    assert flagged == {0: True, 1: False, 2: False}
    md = write_report(root, tmp_path / "reports")[0].read_text()
    assert "| ltr | 1 | pretrain | 3/3 | 80.0 ± 0.0 | 80.0 ± 0.0 | 40.0 ± 10.0 |" in md
    assert "## Jobs no sweep asked for (counted above)" in md
    assert f"- ltr (λ 1) seed 0: {root / 'ltr' / 'lambda1.0_seed0'}" in md
    # Without multirun.yaml nothing is known about the grid, so nothing is flagged.
    (root / "multirun.yaml").unlink()
    assert not any(r.outside_grid for r in load_runs(root))


def test_replacing_the_report_of_other_folders_is_logged(
    multirun: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "reports"
    write_report(multirun, out)
    write_report(multirun, out)  # the same folders again: a refresh, nothing to say
    assert "held the report of other sweep folders" not in caplog.text
    other = tmp_path / "elsewhere" / "paper_table_quick"
    other.mkdir(parents=True)
    make_job(other, "ltr", 0, metrics=metrics_of(0.8, 0.4))
    write_report(other, out)  # same stem (paper_table_quick), other source
    assert f"{out / 'paper_table_quick.md'} held the report of other sweep folders" in caplog.text


def test_genus_and_error_distance_columns_read_the_outcomes_and_show_a_dash_for_older_runs(
    tmp_path: Path,
) -> None:
    root = tmp_path / "paper_table_quick"
    for s, (genus, dist) in enumerate([(0.90, 0.80), (0.70, 1.20)]):
        outcomes = {"genus_per_class_acc": genus, "genus_acc": 0.5, "error_tree_dist": dist}
        make_job(root, "ltr", s, metrics=metrics_of(0.8, 0.3, **outcomes))
    make_job(root, "rtl_softmax", 0, metrics=metrics_of(0.7, 0.2))  # evaluated before the outcomes existed
    md = write_report(root, tmp_path / "reports")[0].read_text()
    assert "| few | genus | err dist | published overall / rare |" in md
    # Genus per-class in % (mean 80, sd 14.1); the distance as it is (mean 1.00, sd 0.28), not as a percentage.
    assert (
        "| ltr | 1 | pretrain | 2/2 | 80.0 ± 0.0 | 80.0 ± 0.0 | 30.0 ± 0.0 | 80.0 ± 0.0 | 80.0 ± 0.0 | 80.0 ± 0.0 | 80.0 ± 14.1 | 1.00 ± 0.28 |"
        in md
    )
    assert "| rtl_softmax | 1 | pretrain | 1/1 | 70.0 | 70.0 | 20.0 | 70.0 | 70.0 | 70.0 | – | – |" in md
    assert "err dist: mean distance between predicted and true species over the KNN's errors only" in md
    table = {
        r["experiment"]: r
        for r in csv.DictReader(io.StringIO((tmp_path / "reports" / "paper_table_quick.csv").read_text()))
    }
    assert float(table["ltr"]["error_tree_dist_mean"]) == pytest.approx(1.0)
    assert float(table["ltr"]["genus_per_class_acc_mean"]) == pytest.approx(80.0)
    assert table["rtl_softmax"]["error_tree_dist_mean"] == ""
