"""``python run.py +experiment=ltr_contrastive`` end to end on the shrunk test profile: align metrics and anchors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_tiny_image_folder
from tests.pipeline_fixtures import PIPELINE_COUNTS, brute_force_knn_acc, tiny_overrides

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_run_py_trains_the_contrastive_alignment_and_writes_its_metrics_and_tower_anchors(
    tmp_path: Path,
) -> None:
    write_tiny_image_folder(tmp_path / "images", PIPELINE_COUNTS)
    overrides = tiny_overrides(tmp_path / "images", tmp_path / "cache")
    assert overrides[0] == "+experiment=ltr_align"
    command = [
        sys.executable,
        "run.py",
        "+experiment=ltr_contrastive",
        *overrides[1:],
        f"hydra.run.dir={tmp_path}/out",
    ]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out"
    record = json.loads((out / "run.json").read_text())
    assert (record["name"], record["status"]) == ("ltr_contrastive", "ok")
    metrics = json.loads((out / "align" / "metrics.json").read_text())
    assert metrics["stage"] == "align"
    with np.load(out / "align" / "embeddings.npz") as npz:  # the KNN evaluation is the image embeddings' one
        acc, per_class = brute_force_knn_acc(dict(npz))
    assert metrics["test/knn/acc"] == pytest.approx(acc, abs=1e-9)
    assert metrics["test/knn/per_class_acc"] == pytest.approx(per_class, abs=1e-9)
    # The best checkpoint holds the trained tower and temperature; anchors.npy is that tower's species means.
    state = torch.load(record["stages"]["align"]["best"], map_location="cpu", weights_only=True)["state_dict"]
    assert {"tower.bag.weight", "loss.log_scale"} <= set(state)
    anchors = np.load(out / "align" / "anchors.npy")
    assert anchors.shape == (len(PIPELINE_COUNTS), 256) and np.isfinite(anchors).all()
    # Means of unit vectors: no longer than 1, and distinct species have distinct anchors.
    assert (np.linalg.norm(anchors, axis=1) <= 1 + 1e-6).all()
    assert len({tuple(np.round(a, 6)) for a in anchors}) == len(PIPELINE_COUNTS)
    log = (out / "run.log").read_text() if (out / "run.log").is_file() else proc.stdout + proc.stderr
    assert "sequences belong to the 6 image classes" in log
