"""A user's own data end to end: `visgen data check` -> training (data.classes=all, group split) -> `visgen predict`.

The data set (tests/own_data_fixtures.py) has a synonym-named folder, an image-only species, six image modes,
a zero-byte and a truncated file, a duplicate across splits and a specimen (group) column.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.own_data_fixtures import DUPLICATE, TRUNCATED, ZERO_BYTE, write_quirky_folder
from tests.pipeline_fixtures import compose_cfg, tiny_overrides
from visgen.cli import main
from visgen.eval.knn import knn_predict


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data root, run folder) of one tiny run: resnet18, 32 px, 1 + 1 epochs, data.classes=all, group split."""
    from visgen.run.pipeline import run

    base = tmp_path_factory.mktemp("own_data")
    root = write_quirky_folder(base / "images")
    overrides = tiny_overrides(
        root,
        base / "cache",
        "data.classes=all",
        "data.batch_size=10",
        "data.m_per_class=2",
        "trainer.max_epochs=1",
    )
    run(compose_cfg(overrides), base / "run")
    return root, base / "run"


def test_data_check_reports_every_quirk_in_one_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_quirky_folder(tmp_path / "images")
    assert main(["data", "check", str(root), "--json", str(tmp_path / "check.json")]) == 1
    text = capsys.readouterr().out
    report = json.loads((tmp_path / "check.json").read_text())
    # The synonym-named folder maps to its image class; the benthic species is there, without DNA.
    species = {row["species"]: row for row in report["species"]}
    assert species["Globigerinoides_sacculifer"]["location"] == "Trilobatus_sacculifer"
    assert species["Globigerinoides_sacculifer"]["dna"] is True and species["Ammonia_tepida"]["dna"] is False
    # 5 species x 6 specimens x 3 slices + 1 copy = 91 files, 2 of them unreadable.
    assert sum(r["train"] + r["val"] + r["test"] for r in report["species"]) == 89
    reasons = dict(map(tuple, report["unreadable"]))
    assert reasons[ZERO_BYTE] == "zero-byte file" and reasons[TRUNCATED].startswith(
        "truncated or corrupt image"
    )
    assert report["modes"].keys() == {"L", "RGB", "RGBA", "I;16", "P", "CMYK"}
    (dupe,) = report["duplicates"]
    assert (
        sorted(dupe["paths"]) == sorted(DUPLICATE)
        and dupe["crosses_splits"]
        and dupe["splits"] == ["test", "val"]
    )
    assert report["groups_crossing"] == []  # the group split keeps every specimen in one split
    assert len(report["problems"]) == 3 and "3 problem(s)" in text
    assert "Ammonia_tepida" in " ".join(report["notes"])


def test_training_with_image_only_species_and_a_group_split(trained: tuple[Path, Path]) -> None:
    _, run_dir = trained
    with open(run_dir / "splits.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 91
    by_group: dict[str, set[str]] = {}
    for row in rows:
        by_group.setdefault(row["group"], set()).add(row["split"])
    assert all(len(s) == 1 for s in by_group.values())  # disjoint by specimen
    assert {r["species"] for r in rows if r["path"].startswith("Trilobatus_sacculifer/")} == {
        "Globigerinoides_sacculifer"
    }
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "ok"
    assert record["data"]["no_dna_species"] == ["Ammonia_tepida"]
    assert record["data"]["class_names"][-1] == "Ammonia_tepida"
    align = json.loads((run_dir / "align" / "metrics.json").read_text())
    # The image-only species is scored as its own group: its one class's accuracy over its test images.
    npz = np.load(run_dir / "align" / "embeddings.npz")
    pred, _ = knn_predict(npz["gallery_embeddings"], npz["gallery_labels"], npz["query_embeddings"], k=5)
    tepida = npz["query_labels"] == 4
    assert align["test/knn/no_dna_acc"] == pytest.approx(float((pred[tepida] == 4).mean()))
    assert np.isnan(np.load(run_dir / "align" / "anchors.npy")[4]).all()  # not aligned


def test_predict_top1_equals_the_knn_callbacks_test_prediction(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    root, run_dir = trained
    with open(run_dir / "splits.csv", newline="") as fh:
        test_rows = [r for r in csv.DictReader(fh) if r["split"] == "test"]
    paths = [str(root / r["path"]) for r in test_rows]
    out = tmp_path / "preds.csv"
    assert main(["predict", str(run_dir), *paths, "--top-k", "3", "--out", str(out), "--device", "cpu"]) == 0
    with open(out, newline="") as fh:
        preds = list(csv.DictReader(fh))
    assert list(preds[0]) == [
        "path",
        "pred_1",
        "score_1",
        "pred_2",
        "score_2",
        "pred_3",
        "score_3",
        "novelty",
    ]
    bad = {str(root / ZERO_BYTE), str(root / TRUNCATED)}
    readable = [p for p in paths if p not in bad]
    assert [p["path"] for p in preds] == readable  # bad files skipped (and counted), order kept
    # The callback's test prediction: its own gallery and queries (query i = i-th readable test image).
    npz = np.load(run_dir / "align" / "embeddings.npz")
    species = npz["species"].tolist()
    callback_pred, _ = knn_predict(
        npz["gallery_embeddings"], npz["gallery_labels"], npz["query_embeddings"], k=5
    )
    assert len(callback_pred) == len(preds)
    assert [p["pred_1"] for p in preds] == [species[c] for c in callback_pred]
    for p in preds:
        assert float(p["score_1"]) >= float(p["score_2"]) >= float(p["score_3"]) >= 0
        assert float(p["novelty"]) >= 0 and len({p["pred_1"], p["pred_2"], p["pred_3"]}) == 3


def test_embed_writes_ids_embeddings_labels_and_the_gallery_index(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    import faiss

    root, run_dir = trained
    folder = root / "Trilobatus_sacculifer"
    assert (
        main(["embed", str(run_dir), str(folder), "--out", str(tmp_path / "x.npz"), "--device", "cpu"]) == 0
    )
    z = np.load(tmp_path / "x.npz")
    npz = np.load(run_dir / "align" / "embeddings.npz")
    species = npz["species"].tolist()
    assert z["embeddings"].shape == (18, npz["gallery_embeddings"].shape[1])
    assert (
        z["labels"] == species.index("Globigerinoides_sacculifer")
    ).all()  # folder read through the synonyms
    index = faiss.read_index(str(tmp_path / "x.faiss"))
    assert index.ntotal == len(npz["gallery_labels"])
    # The train images among them are gallery rows: their nearest gallery vector is themselves (distance ~0).
    d, _ = index.search(np.ascontiguousarray(z["embeddings"], dtype=np.float32), 1)
    assert (d[:, 0] < 1e-6).sum() >= 6


def test_predict_from_a_checkpoint_equals_predict_from_its_run_folder(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    from visgen.run.predict import predict

    root, run_dir = trained
    images = [str(root / "Ammonia_tepida")]
    by_run, _, _ = predict(run_dir, images, out=tmp_path / "a.csv", device="cpu", progress=False)
    by_ckpt, _, _ = predict(
        run_dir / "align" / "checkpoints" / "best.ckpt",
        images,
        out=tmp_path / "b.csv",
        device="cpu",
        progress=False,
    )
    assert by_run.read_text() == by_ckpt.read_text()
    # The pretraining's checkpoint lives in the pretraining cache, which holds its outputs and config too.
    record = json.loads((run_dir / "run.json").read_text())
    ckpt = Path(record["stages"]["pretrain"]["cache"]) / "best.ckpt"
    with open(run_dir / "splits.csv", newline="") as fh:
        tests = [str(root / r["path"]) for r in csv.DictReader(fh) if r["split"] == "test"]
    out, n, bad = predict(ckpt, tests, out=tmp_path / "c.csv", device="cpu", progress=False)
    npz = np.load(run_dir / "pretrain" / "embeddings.npz")
    assert n == len(npz["query_labels"]) and sum(bad.values()) == len(tests) - n
    species = npz["species"].tolist()
    pred, _ = knn_predict(npz["gallery_embeddings"], npz["gallery_labels"], npz["query_embeddings"], k=5)
    with open(out, newline="") as fh:
        assert [r["pred_1"] for r in csv.DictReader(fh)] == [species[c] for c in pred]


def test_run_plots_draw_without_anchors_for_species_without_dna(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    from visgen.report.plots import draw_run_plots

    _, run_dir = trained
    written, skipped = draw_run_plots(run_dir, tmp_path)
    assert "anchor plots: some species have no DNA (NaN anchor rows)" in skipped
    assert {p.name for p in written} >= {"tsne.png", "confusion.png"}
