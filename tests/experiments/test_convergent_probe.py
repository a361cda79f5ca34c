"""experiments/paper_table/convergent_probe.py: look-alike accuracy and partner confusions from stored embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from probe_jobs import load_script, write_job

probe = load_script("convergent_probe")

SPECIES = ["Big_a", "Big_b", "Rare_look", "Rare_other"]
PAIRS = {"Rare_look": "Big_a"}


def _embeddings(look_at: int, other_hits: int) -> dict[str, np.ndarray]:
    """Clusters at 10·e_c, 5 gallery images each; Rare_look's 4 queries sit on cluster ``look_at``,
    and ``other_hits`` of Rare_other's 4 queries on its own cluster (the rest on Big_b's)."""
    centres = 10.0 * np.eye(4)
    gallery = np.repeat(np.arange(4), 5)
    query_labels = np.repeat(np.arange(4), 4)
    at = query_labels.copy()
    at[query_labels == 2] = look_at
    at[np.flatnonzero(query_labels == 3)[other_hits:]] = 1
    return {
        "gallery_embeddings": centres[gallery].astype(np.float32),
        "gallery_labels": gallery,
        "query_embeddings": centres[at].astype(np.float32),
        "query_labels": query_labels,
        "species": np.array(SPECIES),
    }


def _job(root: Path, name: str, seed: int, stages: dict[str, dict[str, np.ndarray]]) -> None:
    data = {"phylo_signal": 1.0, "convergent_pairs": PAIRS, "rare_species": ["Rare_look", "Rare_other"]}
    write_job(root, name, seed, stages, data)


def test_scores_and_paired_differences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for seed in (0, 1):
        # LTR: the look-alike is always read as its partner; alignment recovers it (seed 0) or half of it (seed 1).
        aligned = _embeddings(2, 4) if seed == 0 else _embeddings(2, 2)
        _job(tmp_path, "ltr_align", seed, {"pretrain": _embeddings(0, 4), "align": aligned})
        _job(
            tmp_path, "ltr_align_shuffled", seed, {"pretrain": _embeddings(0, 4), "align": _embeddings(0, 4)}
        )
    scores = probe.stage_scores(
        tmp_path / "ltr_align" / "lambda1.0_seed1" / "align", PAIRS, ["Rare_look", "Rare_other"]
    )
    assert scores == {"look-alike acc": 100.0, "to partner": 0.0, "other rare acc": 50.0}
    probe.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "| ltr_align | pretrain | 2 | 0.0 | 100.0 | 100.0 |" in out
    assert "| ltr_align | align | 2 | 100.0 | 0.0 | 75.0 |" in out
    # other rare: align − LTR is 0 for seed 0 and −50 for seed 1: mean −25, SE 25.
    assert "| ltr_align: align − LTR | +100.0 (0.0) | -100.0 (0.0) | -25.0 (25.0) |" in out
    assert "| ltr_align − ltr_align_shuffled | +100.0 (0.0) | -100.0 (0.0) | -25.0 (25.0) |" in out


def test_no_convergent_jobs_is_a_clear_exit(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no finished alignment jobs on a convergent ForamSim draw"):
        probe.main([str(tmp_path)])


def test_nearest_class_mean_is_not_outvoted(tmp_path: Path) -> None:
    # Big_a: 6 gallery images at x = 0; Rare_look: 2 at x = 2; its queries at x = 1.2. The 5-NN vote takes
    # 2 Rare_look (distance 0.8) and 3 Big_a (1.2) neighbours -> Big_a; the class means (0 and 2) -> Rare_look.
    gallery = np.array([[0.0, 0.0]] * 6 + [[2.0, 0.0]] * 2 + [[0.0, 50.0]] + [[50.0, 0.0]], dtype=np.float32)
    labels = np.array([0] * 6 + [2] * 2 + [1, 3])
    emb = {
        "gallery_embeddings": gallery,
        "gallery_labels": labels,
        "query_embeddings": np.array([[1.2, 0.0]] * 3 + [[50.0, 0.0]], dtype=np.float32),
        "query_labels": np.array([2, 2, 2, 3]),
        "species": np.array(SPECIES),
    }
    _job(tmp_path, "ltr_align", 0, {"pretrain": emb, "align": emb})
    stage = tmp_path / "ltr_align" / "lambda1.0_seed0" / "align"
    knn = probe.stage_scores(stage, PAIRS, ["Rare_look", "Rare_other"])
    ncm = probe.stage_scores(stage, PAIRS, ["Rare_look", "Rare_other"], classifier="ncm")
    assert (knn["look-alike acc"], knn["to partner"]) == (0.0, 100.0)
    assert (ncm["look-alike acc"], ncm["to partner"]) == (100.0, 0.0)
