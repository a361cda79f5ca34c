"""The GZSL stage end to end on the shrunk real config: split recorded, every score written, reruns identical."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_tiny_image_folder
from tests.pipeline_fixtures import PIPELINE_COUNTS, compose_cfg, tiny_overrides
from visgen.report.gzsl import write_report
from visgen.results import read_metrics, read_permutation_null
from visgen.run.pipeline import run

pytestmark = pytest.mark.slow
TARGETS = ["Orbulina_universa", "Hastigerina_pelagica"]
ANCHORS = ["sgt_raw", "sgt_centred", "shuffled", "random", "equiangular"]


def _overrides(base: Path) -> list[str]:
    shrunk = tiny_overrides(base / "images", base / "cache")
    return [
        *["+experiment=gzsl" if o == "+experiment=ltr_align" else o for o in shrunk],
        "data.unseen_fold=null",
        f"data.unseen=[{','.join(TARGETS)}]",
        "data.batch_size=8",  # 4 seen species x m_per_class 2
        f"gzsl.anchors=[{','.join(ANCHORS)}]",
        "gzsl.permutation.anchors=[sgt_raw]",
        "gzsl.permutation.n=3",
        "gzsl.shots=[0,1]",
        "gzsl.head.pca_dims=8",
        "gzsl.head.steps=5",
    ]


def test_gzsl_run_records_the_split_writes_every_score_and_reruns_identically(tmp_path: Path) -> None:
    write_tiny_image_folder(tmp_path / "images", PIPELINE_COUNTS)
    cfg = compose_cfg(_overrides(tmp_path))
    assert cfg.name == "gzsl"
    run(cfg, tmp_path / "a")
    record = json.loads((tmp_path / "a" / "run.json").read_text())
    assert record["status"] == "ok", record["error"]
    held = record["data"]["heldout"]
    assert held["targets"] == TARGETS and held["shots"] == 0
    counts = dict(zip(record["data"]["class_names"], record["data"]["train_counts"], strict=True))
    assert [counts[t] for t in TARGETS] == [0, 0] and min(
        v for k, v in counts.items() if k not in TARGETS
    ) > 0
    out = read_metrics(tmp_path / "a" / "gzsl")
    assert out["chance_zsl"] == 0.5 and out["targets"] == TARGETS
    for anchor in ANCHORS:
        for method in ("aligned", "ridge"):
            for k in (0, 1):
                for key in ("zsl_top1", "unseen_top1", "unseen_top5", "seen_acc", "h", "novelty_auroc"):
                    value = out[f"test/gzsl/{anchor}/{method}/k{k}/{key}"]
                    assert 0.0 <= value <= 1.0
        assert out["test/gzsl/equiangular/ridge/k0/zsl_top1"] == 0.5  # identical priors: exactly chance
        # Where the targets' errors land, along the taxonomy (real images have no tree).
        p = f"test/gzsl/{anchor}/ridge/k0/"
        assert 0.0 <= out[p + "unseen_genus_acc"] <= 1.0 and out[p + "unseen_n_errors"] >= 0
        assert out[p + "unseen_error_tree_dist"] == out[p + "unseen_error_taxonomy_dist"]
        assert out[p + "unseen_error_tree_dist"] is None or 1.0 <= out[p + "unseen_error_tree_dist"] <= 2.0
    assert out["error_tree"] == "taxonomy"
    null = read_permutation_null(tmp_path / "a" / "gzsl")
    assert null["sgt_raw/ridge/zsl_top1"].shape == (3,)
    assert 1 / 4 <= out["test/gzsl/sgt_raw/aligned/p_zsl_top1"] <= 1.0
    # Second run: the pretraining and the trunk features come from the cache, the scores are the same.
    run(compose_cfg(_overrides(tmp_path)), tmp_path / "b")
    again = read_metrics(tmp_path / "b" / "gzsl")
    assert {k: v for k, v in again.items() if k.startswith("test/")} == {
        k: v for k, v in out.items() if k.startswith("test/")
    }
    np.testing.assert_array_equal(read_permutation_null(tmp_path / "b" / "gzsl")["sgt_raw/ridge/zsl_top1"],
                                  null["sgt_raw/ridge/zsl_top1"])  # fmt: skip
    # The report over both cells says what data they ran on and that the second took a cached pretraining.
    md = write_report(tmp_path, tmp_path / "reports", "pytest").read_text()
    assert f"Data: real images ({tmp_path / 'images'})." in md
    assert "2 cells" in md and "1 of 2 reused a cached pretraining" in md
    assert "## real images" in md and "No verdict: the three statements compare ForamSim" in md
    assert (
        tmp_path / "reports" / f"gzsl_{tmp_path.name}.md"
    ).is_file()  # named after the folder, not the profile


def test_the_tower_rung_fits_a_dna_tower_per_cell_and_is_scored_like_every_anchor(tmp_path: Path) -> None:
    write_tiny_image_folder(tmp_path / "images", PIPELINE_COUNTS)
    overrides = [o for o in _overrides(tmp_path) if not o.startswith("gzsl.anchors")]
    run(compose_cfg([*overrides, "gzsl.anchors=[sgt_raw,tower]", "gzsl.tower.steps=5"]), tmp_path / "a")
    assert json.loads((tmp_path / "a" / "run.json").read_text())["status"] == "ok"
    out = read_metrics(tmp_path / "a" / "gzsl")
    for method in ("aligned", "ridge"):
        for k in (0, 1):
            for key in ("zsl_top1", "unseen_top1", "h"):
                assert 0.0 <= out[f"test/gzsl/tower/{method}/k{k}/{key}"] <= 1.0
    # Reproducible: the fit is seeded by the cell.
    run(compose_cfg([*overrides, "gzsl.anchors=[sgt_raw,tower]", "gzsl.tower.steps=5"]), tmp_path / "b")
    again = read_metrics(tmp_path / "b" / "gzsl")
    assert {k: v for k, v in again.items() if "/tower/" in k} == {
        k: v for k, v in out.items() if "/tower/" in k
    }
