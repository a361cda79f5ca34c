"""The GZSL stage writes the peers' retrieval numbers, equal to the pure function on arrays rebuilt by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_tiny_image_folder
from tests.pipeline_fixtures import PIPELINE_COUNTS, compose_cfg, tiny_overrides
from visgen.eval.align_head import fit_align_head
from visgen.eval.gzsl_score import reduce_features
from visgen.eval.mistakes import genus_ids
from visgen.eval.retrieval import retrieval_accuracy
from visgen.eval.zeroshot import choose_ridge, class_means
from visgen.results import read_metrics
from visgen.run.gzsl import ladder_anchors
from visgen.run.pipeline import run

pytestmark = pytest.mark.slow
TARGETS = ["Orbulina_universa", "Hastigerina_pelagica"]
ANCHORS = ["sgt_raw", "shuffled"]
AVERAGES = [f"{s}/{lvl}/{a}_top{k}" for s in ("seen", "unseen") for lvl in ("species", "genus")
            for a in ("micro", "macro") for k in (1, 5)]  # fmt: skip


def _overrides(base: Path) -> list[str]:
    shrunk = tiny_overrides(base / "images", base / "cache")
    return [
        *["+experiment=gzsl" if o == "+experiment=ltr_align" else o for o in shrunk],
        "data.unseen_fold=null",
        f"data.unseen=[{','.join(TARGETS)}]",
        "data.batch_size=8",  # 4 seen species x m_per_class 2
        f"gzsl.anchors=[{','.join(ANCHORS)}]",
        "gzsl.permutation.anchors=[]",
        "gzsl.shots=[0]",
        "gzsl.head.pca_dims=8",
        "gzsl.head.steps=5",
    ]


def _assert_same(stored: dict, prefix: str, want: dict) -> None:
    for key, value in want.items():
        got = stored[f"{prefix}/{key}"]
        if isinstance(value, float) and math.isnan(value):
            assert got is None, key  # undefined is written as null
        else:
            assert got == pytest.approx(value, abs=1e-9), f"{prefix}/{key}"


def test_gzsl_stage_writes_retrieval_equal_to_the_pure_function_on_the_same_arrays(tmp_path: Path) -> None:
    write_tiny_image_folder(tmp_path / "images", PIPELINE_COUNTS)
    cfg = compose_cfg(_overrides(tmp_path))
    run(cfg, tmp_path / "a")
    record = json.loads((tmp_path / "a" / "run.json").read_text())
    assert record["status"] == "ok", record["error"]
    out = read_metrics(tmp_path / "a" / "gzsl")
    assert out["retrieval_metric"] == {"aligned": "cosine", "ridge": "euclidean"}
    # Every key: image->DNA per anchor and method; image->image once for ridge, per anchor for aligned.
    prefixes = [f"dna/{a}/{m}" for a in ANCHORS for m in ("aligned", "ridge")]
    prefixes += ["image/images/ridge", *(f"image/{a}/aligned" for a in ANCHORS)]
    for p in prefixes:
        for key in [*AVERAGES, "seen/n_queries", "unseen/n_queries"]:
            assert f"test/retrieval/{p}/{key}" in out, f"{p}/{key}"
    assert not any(k.startswith("test/retrieval/image/sgt_raw/ridge") for k in out)

    # The same arrays, rebuilt from the stage's cached trunk features without its helpers.
    names = record["data"]["class_names"]
    weights = Path(record["stages"]["gzsl"]["from"])
    with np.load(weights.parent / "gzsl_features.npz") as z:
        f = dict(z)
    targets = [names.index(t) for t in TARGETS]
    seen = sorted({int(c) for c in f["train_y"]} - set(targets))
    listed = np.array(seen + targets)
    genus = genus_ids(names)
    on_seen = ~np.isin(f["train_y"], targets)
    train_e, train_y = f["train_e"][on_seen], f["train_y"][on_seen]
    anchors = ladder_anchors(cfg, names, int(out["cell_seed"]))["sgt_raw"]

    # ridge: the pretrained embeddings; DNA keys = anchors mapped by the ridge fitted on the seen species.
    fit, _ = choose_ridge(anchors[seen], class_means(train_e, train_y, seen))
    want = retrieval_accuracy(f["test_e"], f["test_y"], fit.predict(anchors[listed]), listed, genus, seen,
                              metric="euclidean")  # fmt: skip
    assert want["seen/n_queries"] > 0 and want["unseen/n_queries"] == sum(np.isin(f["test_y"], targets))
    _assert_same(out, "test/retrieval/dna/sgt_raw/ridge", want)
    keys = np.concatenate([train_e, f["support_e"]])
    key_labels = np.concatenate([train_y, f["support_y"]])
    want = retrieval_accuracy(f["test_e"], f["test_y"], keys, key_labels, genus, seen, metric="euclidean")
    _assert_same(out, "test/retrieval/image/images/ridge", want)

    # aligned: the head refitted on the top principal components, DNA keys = unit anchors.
    cell = _reduced_cell(f, on_seen, seen, targets, len(names), int(cfg.gzsl.head.pca_dims))
    per_class = int(cfg.gzsl.head.per_class)
    rows = np.concatenate([np.flatnonzero(cell.train_y == c)[:per_class] for c in seen])
    head = fit_align_head(cell.train_x[rows], cell.train_y[rows], anchors, steps=int(cfg.gzsl.head.steps),
                          lr=float(cfg.gzsl.head.lr), margin=float(cfg.align.margin), seed=int(out["cell_seed"]))  # fmt: skip
    unit = anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
    want = retrieval_accuracy(head.embed(cell.test_x), cell.test_y, unit[listed], listed, genus, seen)
    _assert_same(out, "test/retrieval/dna/sgt_raw/aligned", want)


def _reduced_cell(f: dict, on_seen: np.ndarray, seen: list[int], targets: list[int], n: int, dims: int):
    from visgen.eval.gzsl_score import CellFeatures

    cell = CellFeatures(
        f["train_x"][on_seen], f["train_e"][on_seen], f["train_y"][on_seen], f["test_x"], f["test_e"],
        f["test_y"], f["support_x"], f["support_e"], f["support_y"], seen, targets, n,
    )  # fmt: skip
    return reduce_features(cell, dims)
