"""Plots: non-empty PNGs from a fixture run folder, logged to an image-capable logger, correct numbers inside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from report_fixtures import make_job, metrics_of

from visgen.report import figures
from visgen.report.plots import log_run_plots, mean_per_species, stage_plots, write_report_plots
from visgen.results import load_runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _ImageLogger:
    """Stands in for WandbLogger: records what ``log_image`` received."""

    def __init__(self) -> None:
        self.logged: dict[str, list[Any]] = {}

    def log_image(self, key: str, images: list[Any]) -> None:
        self.logged[key] = images


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000


def test_log_run_plots_writes_and_logs_every_plot(tmp_path: Path) -> None:
    job = make_job(
        tmp_path,
        "ltr_align",
        0,
        stages=("pretrain", "align"),
        metrics=metrics_of(0.9, 0.8),
        per_species_acc=[0.9, 0.8, 0.5, 0.2],
        with_outputs=True,
    )
    logger = _ImageLogger()
    paths = log_run_plots(job, [logger, None])
    assert {p.name for p in paths} == {
        "per_class_vs_count.png",
        "tsne.png",
        "confusion.png",
        "genetic_vs_visual.png",
    }
    assert all(p.parent == job / "plots" and _is_png(p) for p in paths)
    assert set(logger.logged) == {f"plots/{p.stem}" for p in paths}


def test_missing_inputs_skip_plots_instead_of_failing(tmp_path: Path) -> None:
    job = make_job(tmp_path, "ltr", 0, metrics=metrics_of(0.9, 0.8), with_outputs=True, anchors=False)
    # No per_species.csv and no anchors: only the t-SNE and the confusion matrix can be drawn.
    assert {p.name for p in log_run_plots(job)} == {"tsne.png", "confusion.png"}
    assert log_run_plots(tmp_path / "empty") == []


def test_report_plots_average_seeds_and_use_an_ltr_align_run(tmp_path: Path) -> None:
    for s in range(2):
        make_job(
            tmp_path, "rtl_softmax", s, metrics=metrics_of(0.7, 0.3), per_species_acc=[0.9, 0.6, 0.2, 0.0]
        )
        make_job(tmp_path, "ltr", s, metrics=metrics_of(0.8, 0.4), per_species_acc=[0.9, 0.7, 0.4, 0.1 * s])
    make_job(
        tmp_path,
        "ltr_align",
        1,
        stages=("pretrain", "align"),
        metrics=metrics_of(0.9, 0.6),
        per_species_acc=[0.9, 0.8, 0.6, 0.4],
        with_outputs=True,
    )
    paths = write_report_plots(load_runs(tmp_path), tmp_path / "plots")
    names = {p.name for p in paths}
    assert "per_class_vs_count.png" in names and "ltr_align_seed1_tsne.png" in names
    assert all(_is_png(p) for p in paths)


def test_mean_per_species_averages_over_runs(tmp_path: Path) -> None:
    a = make_job(tmp_path, "ltr", 0, metrics=metrics_of(0.8, 0.4), per_species_acc=[1.0, 0.5, 0.25, 0.0])
    b = make_job(tmp_path, "ltr", 1, metrics=metrics_of(0.8, 0.4), per_species_acc=[0.0, 0.5, 0.75, 1.0])
    n, acc = mean_per_species([a / "pretrain", b / "pretrain"])
    # Species sorted by name: alpha, beta, delta, gamma.
    np.testing.assert_allclose(n, [400, 150, 8, 60])
    np.testing.assert_allclose(acc, [0.5, 0.5, 0.5, 0.5])


def test_genetic_vs_visual_reports_the_mantel_r(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    genetic = rng.normal(size=(6, 5))
    noise = rng.normal(size=(6, 5))
    # Visual centroids = a scaled copy of the anchors: distances proportional, r = 1 exactly.
    # Unrelated centroids: r equals the Pearson r of the two upper triangles, computed here directly.
    _, stats = figures.genetic_vs_visual(genetic, {"copy": 3 * genetic, "noise": noise}, tmp_path / "g.png")
    assert stats["copy"][0] == pytest.approx(1.0)
    iu = np.triu_indices(6, k=1)
    d_g = np.linalg.norm(genetic[:, None] - genetic[None], axis=-1)[iu]
    d_n = np.linalg.norm(noise[:, None] - noise[None], axis=-1)[iu]
    assert stats["noise"][0] == pytest.approx(np.corrcoef(d_g, d_n)[0, 1])
    assert _is_png(tmp_path / "g.png")


def test_pairwise_euclidean_and_centroids_match_loops() -> None:
    x = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    np.testing.assert_allclose(figures.pairwise_euclidean(x), [[0, 5, 10], [5, 0, 5], [10, 5, 0]], atol=1e-12)
    cent = figures.class_centroids(x, np.array([0, 0, 2]), 3)
    np.testing.assert_allclose(cent[0], [1.5, 2.0])
    assert np.isnan(cent[1]).all()  # a class without samples


def test_stage_plots_draw_one_stage_with_anchors_from_npy(tmp_path: Path) -> None:
    job = make_job(
        tmp_path,
        "ltr_align",
        0,
        stages=("pretrain", "align"),
        metrics=metrics_of(0.9, 0.8),
        per_species_acc=[0.9, 0.8, 0.5, 0.2],
        with_outputs=True,
        anchors=False,
    )
    # The pipeline may save the anchors beside the embeddings instead of inside them.
    np.save(job / "align" / "anchors.npy", np.random.default_rng(1).normal(size=(4, 8)))
    paths = stage_plots(job / "align")
    assert {p.name for p in paths} == {
        "per_class_vs_count.png",
        "tsne.png",
        "confusion.png",
        "genetic_vs_visual.png",
    }
    assert all(p.parent == job / "align" / "plots" and _is_png(p) for p in paths)
