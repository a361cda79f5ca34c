"""experiments/paper_table/classifier_probe.py: the 5-NN vote against nearest class mean on a hand-made gallery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from probe_jobs import load_script, write_job

probe = load_script("classifier_probe")

PER_SPECIES = [
    {"species": "Common", "n_train": 100, "bucket": "many", "rare": False, "n_test": 4, "acc": 1.0},
    {"species": "Rare", "n_train": 3, "bucket": "few", "rare": True, "n_test": 4, "acc": 0.0},
]


def _embeddings(rare_query_x: float) -> dict[str, np.ndarray]:
    """Common: 50 gallery vectors at x = 1.5 and 50 at x = -3 (mean -0.75); Rare: 3 at x = 3. Four common
    queries sit at x = -3 (both classifiers right); four rare queries at ``rare_query_x``."""
    common = [[1.5, y] for y in np.linspace(-0.3, 0.3, 50)] + [[-3.0, y] for y in np.linspace(-1, 1, 50)]
    gallery = np.array([*common, [3.0, 0.1], [3.1, -0.1], [2.9, 0.0]], dtype=np.float32)
    queries = np.array([[-3.0, 0.0]] * 4 + [[rare_query_x, 0.0]] * 4, dtype=np.float32)
    return {
        "gallery_embeddings": gallery,
        "gallery_labels": np.array([0] * 100 + [1] * 3),
        "query_embeddings": queries,
        "query_labels": np.array([0] * 4 + [1] * 4),
        "query_extra": np.zeros(8, dtype=bool),
        "species": np.array(["Common", "Rare"]),
    }


def test_knn_is_outvoted_where_the_class_mean_is_nearest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # At x = 2.2 the 5 nearest gallery vectors are common, the nearest class mean is the rare one;
    # at x = 2.9 both classifiers find the rare class.
    for seed, x in ((0, 2.2), (1, 2.2)):
        write_job(
            tmp_path,
            "ltr_align",
            seed,
            {"pretrain": _embeddings(x), "align": _embeddings(2.9)},
            {"phylo_signal": 1.0},
            PER_SPECIES,
        )
    scores = probe.stage_scores(tmp_path / "ltr_align" / "lambda1.0_seed0" / "pretrain")
    assert scores == {
        "knn": {"overall": 50.0, "per-class": 50.0, "rare": 0.0},
        "ncm": {"overall": 100.0, "per-class": 100.0, "rare": 100.0},
    }
    probe.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "| ltr_align | 1 | pretrain | 2 | 50.0 | 50.0 | 0.0 | 100.0 | 100.0 | 100.0 |" in out
    assert "| ltr: NCM − KNN | 1 | +50.0 (0.0) | +50.0 (0.0) | +100.0 (0.0) |" in out
    # Alignment moved the rare queries onto their class: +100 pp rare under the KNN, nothing under NCM.
    assert "| knn: ltr_align − ltr | 1 | +50.0 (0.0) | +50.0 (0.0) | +100.0 (0.0) |" in out
    assert "| ncm: ltr_align − ltr | 1 | +0.0 (0.0) | +0.0 (0.0) | +0.0 (0.0) |" in out


def test_no_jobs_is_a_clear_exit(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no finished jobs with stored embeddings"):
        probe.main([str(tmp_path)])


def test_ltr_against_the_baseline_pairs_by_draw_and_seed_across_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As in `make paper-table`: the baseline in its own sweep folder. Draws 0 and 1, seed 0 each; the baseline's
    # rare queries sit where the 5-NN vote is outvoted, LTR's on their class.
    for d in (0, 1):
        data = {"phylo_signal": 1.0, "seed": d}
        write_job(tmp_path / f"base{d}", "rtl_softmax", 0, {"pretrain": _embeddings(2.2)}, data, PER_SPECIES)
        write_job(tmp_path / f"main{d}", "ltr", 0, {"pretrain": _embeddings(2.9)}, data, PER_SPECIES)
    probe.main([str(p) for p in sorted(tmp_path.iterdir())])
    out = capsys.readouterr().out
    assert "| knn: ltr − rtl_softmax | 1 | +50.0 (0.0) | +50.0 (0.0) | +100.0 (0.0) |" in out
    assert "| ncm: ltr − rtl_softmax | 1 | +0.0 (0.0) | +0.0 (0.0) | +0.0 (0.0) |" in out
    # The same cell in two folders would pair twice: refused.
    write_job(
        tmp_path / "again",
        "ltr",
        0,
        {"pretrain": _embeddings(2.9)},
        {"phylo_signal": 1.0, "seed": 0},
        PER_SPECIES,
    )
    with pytest.raises(SystemExit, match="draw 0, seed 0 is in two of the folders given"):
        probe.main([str(tmp_path / "main0"), str(tmp_path / "again")])
