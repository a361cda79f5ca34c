"""experiments/paper_table/protocol_probe.py: paired differences and their t-intervals on hand-made runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from probe_jobs import load_script

probe = load_script("protocol_probe")


def _run(name: str, seed: int, rare: float, selection: str = "val", **metrics: float):
    return probe.Run(
        name=name, seed=seed, phylo_signal=1.0, selection=selection,
        metrics={"acc": 0.8, "per_class_acc": 0.5, "rare_acc": rare, **metrics},
    )  # fmt: skip


def test_t_interval_by_hand() -> None:
    # diffs 1, 2, 3: mean 2, sd 1, se 1/sqrt(3); t(0.975, df 2) = 4.302653
    mean, half = probe.t_interval([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0)
    assert half == pytest.approx(4.302653 / 3**0.5, rel=1e-6)
    assert probe.t_interval([1.5])[0] == 1.5 and math.isnan(probe.t_interval([1.5])[1])
    assert probe.fmt([1.5]) == "+1.5 (n = 1, no interval)" and probe.fmt([]) == "–"


def test_selection_inflation_pairs_the_same_row_and_seed_only() -> None:
    runs = [
        _run("ltr", 0, 0.20), _run("ltr", 0, 0.26, "test"),
        _run("ltr", 1, 0.22), _run("ltr", 1, 0.24, "test"),
        _run("ltr", 2, 0.25),  # no test-selected partner: left out
    ]  # fmt: skip
    diffs = probe.paired(runs, probe._is("ltr", "test"), probe._is("ltr"), "rare_acc")
    assert diffs == pytest.approx([6.0, 2.0])
    text = probe.report(runs)
    assert "| `ltr`: test-selected − validation-selected | +0.0" in text
    assert f"+4.0 ± {2.0 * 12.706205:.1f} (n = 2)" in text  # sd of (6, 2) = 2.83, se 2, t(0.975, 1) = 12.706


def test_rebalancing_rows_compare_their_classifier_with_the_plain_one() -> None:
    runs = [
        _run("ltr", 0, 0.20, ncm_rare_acc=0.30), _run("ltr_plain", 0, 0.20, clf_rare_acc=0.10),
        _run("ltr_crt", 0, 0.25, ncm_rare_acc=0.33, clf_rare_acc=0.40),
    ]  # fmt: skip
    assert (
        "| `ltr_crt` | +5.0 (n = 1, no interval) | +3.0 (n = 1, no interval) | +30.0 (n = 1, no interval) |"
        in (probe.report(runs))
    )


def test_one_test_selected_runs_log_gives_the_optimism_of_choosing_on_test(tmp_path: Path) -> None:
    log_dir = tmp_path / "job" / "pretrain" / "csv" / "version_0"
    log_dir.mkdir(parents=True)
    # Epoch 3: best on test (acc 0.80, rare 0.30); epoch 7: best on validation (0.70), test there 0.75 / rare 0.40.
    rows = [
        "epoch,val/knn/acc,val/knn/per_class_acc,val/knn/rare_acc,val_split/knn/acc,train/loss",
        "3,0.80,0.50,0.30,0.60,",
        "3,,,,,1.0",  # a training row: no validation numbers
        "7,0.75,0.55,0.40,0.70,",
        "11,0.80,0.52,0.20,0.65,",  # ties the test maximum later: the first one was kept
    ]
    (log_dir / "metrics.csv").write_text("\n".join(rows) + "\n")
    run = probe.Run(
        name="ltr_authors", seed=0, phylo_signal=1.0, selection="test",
        metrics={"acc": 0.8, "per_class_acc": 0.5, "rare_acc": 0.3}, run_dir=tmp_path / "job",
    )  # fmt: skip
    got = probe.logged_selection(run)
    assert got == pytest.approx({"acc": 5.0, "per_class_acc": -5.0, "rare_acc": -10.0})
    assert "| `ltr_authors`, pretraining: test-chosen − val-chosen epoch (one run's log) | +5.0 (n = 1" in (
        probe.report([run])
    )
