"""BIOSCAN-5M's own partitions drive the GZSL stage: targets, support, queries and novelty on the miniature.

Oracles: what tests/bioscan5m_fixtures.py wrote (species per partition, images per partition), the CSV's
partition of each image, and the novelty AUROC recomputed from the cached features by a loop over every
(novel, seen) pair of images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.bioscan5m_fixtures import DNA_LESS, HELDOUT, SEEN, UNSEEN, UNSEEN_COUNTS, write_mini_bioscan5m
from tests.pipeline_fixtures import compose_cfg
from visgen.cli import main
from visgen.errors import UserInputError
from visgen.run.checks import check_config
from visgen.run.pipeline import build_datamodule, run


def _names(species: list[str]) -> list[str]:
    return [s.replace(" ", "_") for s in species]


def _overrides(root: Path, cache: Path, *extra: str) -> list[str]:
    """``+experiment=gzsl_bioscan5m`` shrunk to seconds on one CPU thread (resnet18, 32 px, one epoch)."""
    return [
        "+experiment=gzsl_bioscan5m", f"data.root={root}", "profile=quick", "data.image_size=32",
        "data.batch_size=12", "data.m_per_class=2", "data.num_workers=0", "model.net.trunk=resnet18",
        "trainer.accelerator=cpu", "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1",
        "callbacks.progress_bar=null", f"cache_dir={cache}", "gzsl.anchors=[sgt_raw,shuffled]",
        "gzsl.permutation.anchors=[sgt_raw]", "gzsl.permutation.methods=[ridge]", "gzsl.permutation.n=2",
        "gzsl.shots=[0,1]", "gzsl.head.pca_dims=8", "gzsl.head.steps=5", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mini_bioscan5m(tmp_path_factory.mktemp("bioscan") / "data", dna_less=True)


def _brute_auroc(f: dict[str, np.ndarray], seen: list[int]) -> tuple[float, float]:
    """Novelty = min over seen species of (distance to its mean / RMS spread of its training embeddings), by loops
    in float64; AUROC = the share of (novel, seen-test) pairs the score orders right, ties half.

    Returns:
        The AUROC's bounds: a pair whose two scores agree to 1e-5 (the miniature's flat images embed almost
        alike, and the stage's float32 distances may order such a pair either way) counts 0 in one and 1 in the other.
    """
    protos = {}
    for c in seen:
        rows = f["train_e"][f["train_y"] == c].astype(np.float64)
        mean = rows.mean(axis=0)
        protos[c] = (mean, np.sqrt(np.mean([np.sum((r - mean) ** 2) for r in rows])))

    def novelty(x: np.ndarray) -> float:
        return min(np.linalg.norm(x - mean) / spread for mean, spread in protos.values())

    seen_scores = [
        novelty(x.astype(np.float64)) for x, y in zip(f["test_e"], f["test_y"], strict=True) if y in protos
    ]
    novel_scores = [novelty(x.astype(np.float64)) for x in f["novel_e"]]
    pairs = [(n, s) for n in novel_scores for s in seen_scores]
    close = [abs(n - s) <= 1e-5 * max(abs(n), 1.0) for n, s in pairs]
    sure = sum(float(n > s) for (n, s), c in zip(pairs, close, strict=True) if not c)
    assert sum(close) <= len(pairs) // 20  # the bounds stay tight enough to fail
    return sure / len(pairs), (sure + sum(close)) / len(pairs)


def test_the_partitions_set_targets_support_queries_and_novelty_in_the_data_module(
    mini: Path, tmp_path: Path
) -> None:
    dm = build_datamodule(compose_cfg(_overrides(mini, tmp_path / "cache")))
    dm.setup("fit")
    index = dm.index
    assert dm.targets == [n for n in index.class_names if n in _names(UNSEEN)]  # class order
    assert (
        sorted(dm.targets) == sorted(_names(UNSEEN)) and DNA_LESS.replace(" ", "_") not in index.class_names
    )

    def partitions(split: str) -> list[str]:
        return sorted(set(index.partitions[np.asarray(dm._datasets[split].rows)].tolist()))

    assert partitions("support") == ["key_unseen"] and partitions("novel") == ["other_heldout"]
    assert partitions("test") == ["test", "test_unseen"] and partitions("train") == ["train"]
    assert partitions("val") == ["val"]  # val_unseen is withheld
    assert len(dm._datasets["support"]) == UNSEEN_COUNTS["key_unseen"] * len(UNSEEN)
    assert dm.heldout["dropped"] == {"train": UNSEEN_COUNTS["key_unseen"] * len(UNSEEN),
                                     "val": UNSEEN_COUNTS["val_unseen"] * len(UNSEEN)}  # fmt: skip
    assert dm.heldout["novel_species"] == sorted(_names(HELDOUT))


@pytest.mark.parametrize("key", ["data.unseen_fold=0", "data.unseen=[Megaselia_abdita]"])
def test_a_fold_or_species_list_with_partition_targets_is_one_line_naming_the_key(
    mini: Path, tmp_path: Path, key: str
) -> None:
    with pytest.raises(UserInputError) as err:
        check_config(compose_cfg(_overrides(mini, tmp_path / "cache", key)))
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{key.split('=')[0]}=")
    assert "key_unseen (support)" in line and f"drop {key.split('=')[0]}" in line


def test_data_check_pretraining_gzsl_and_novelty_on_the_miniature(
    mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1. visgen data check with the CSV's own barcodes: the species without a usable barcode is counted and named.
    assert main(["data", "check", "--source", "bioscan5m", str(mini), "--dna-table",
                 "--json", str(tmp_path / "check.json")]) == 0  # fmt: skip
    report = json.loads((tmp_path / "check.json").read_text())
    dna_less = DNA_LESS.replace(" ", "_")
    (note,) = [n for n in report["notes"] if "have images but no DNA" in n]
    assert note.startswith(f"1 species have images but no DNA ({dna_less})")
    assert (
        f"DNA: {mini / 'bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv'}"
        in capsys.readouterr().out
    )
    # 2. pretraining on the seen species, then 3. GZSL on the unseen partitions, then 4. novelty.
    run(compose_cfg(_overrides(mini, tmp_path / "cache")), tmp_path / "out")
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["status"] == "ok", record["error"]
    # 24 seen test images (12 x 2) + the unseen species' test_unseen images; key/val_unseen and other_heldout left.
    n_queries = UNSEEN_COUNTS["test_unseen"] * len(UNSEEN)
    assert record["data"]["split_sizes"] == {"train": 54, "val": 12, "test": 24 + n_queries}
    # The species without usable DNA: its records counted, it is no class (data.classes=dna).
    assert record["data"]["skipped"]["records of species without DNA (data.classes=all keeps them)"] == sum(
        UNSEEN_COUNTS.values()
    )
    out = json.loads((tmp_path / "out" / "gzsl" / "metrics.json").read_text())
    assert sorted(out["targets"]) == sorted(_names(UNSEEN)) and sorted(out["seen"]) == sorted(_names(SEEN))
    assert out["chance_zsl"] == 1 / len(UNSEEN)
    assert out["support_pool"] == dict.fromkeys(out["targets"], UNSEEN_COUNTS["key_unseen"])
    assert out["test_images"] == dict.fromkeys(out["targets"], UNSEEN_COUNTS["test_unseen"])
    assert out["novel_images"] == dict.fromkeys(sorted(_names(HELDOUT)), 2)
    assert not set(_names(HELDOUT)) & (set(out["targets"]) | set(out["seen"]))
    for method in ("aligned", "ridge"):
        assert 0.0 <= out[f"test/gzsl/sgt_raw/{method}/k1/unseen_top1"] <= 1.0
    assert (out["test/gzsl/novelty/n_seen"], out["test/gzsl/novelty/n_novel"]) == (24, 2 * len(HELDOUT))
    with np.load(Path(record["stages"]["gzsl"]["from"]).parent / "gzsl_features.npz") as z:
        features = dict(z)
    names = record["data"]["class_names"]
    seen = [names.index(s) for s in out["seen"]]
    low, high = _brute_auroc(features, seen)
    assert low - 1e-12 <= out["test/gzsl/novelty/auroc"] <= high + 1e-12
    # The peers' table: unseen queries (test_unseen) against the key set (seen training images + key_unseen).
    from visgen.eval.mistakes import genus_ids
    from visgen.eval.retrieval import retrieval_accuracy

    targets = [names.index(t) for t in out["targets"]]
    on = np.isin(features["test_y"], seen + targets)
    expected = retrieval_accuracy(
        features["test_e"][on], features["test_y"][on],
        np.concatenate([features["train_e"][np.isin(features["train_y"], seen)], features["support_e"]]),
        np.concatenate([features["train_y"][np.isin(features["train_y"], seen)], features["support_y"]]),
        genus_ids(names), seen, metric=out["retrieval_metric"]["ridge"],
    )  # fmt: skip
    prefix = "test/retrieval/image/images/ridge/"
    assert expected["unseen/n_queries"] == UNSEEN_COUNTS["test_unseen"] * len(UNSEEN)
    for key in ("unseen/species/micro_top1", "unseen/genus/macro_top5", "seen/species/micro_top5"):
        assert out[prefix + key] == pytest.approx(expected[key])
    from visgen.report.retrieval import write_report as retrieval_report

    md = retrieval_report([tmp_path / "out"], tmp_path / "reports", "pytest", "clibd").read_text()
    assert "| image→image | images | ridge | 1 |" in md and "| image→DNA | sgt_raw | ridge | 1 |" in md


def test_a_table_source_without_a_path_reads_the_data_sets_own_csv(mini: Path, tmp_path: Path) -> None:
    from visgen.run.anchors import genetics_options

    _, genetics = genetics_options(compose_cfg(_overrides(mini, tmp_path / "cache")))
    assert genetics["source"] == "table"
    assert genetics["table"] == {
        "path": str(mini / "bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv"),
        "id_column": "processid", "species_column": "species", "sequence_column": "dna_barcode", "max_length": 660,
    }  # fmt: skip
    # A layout without a table of its own: one line naming the key.
    with pytest.raises(
        UserInputError, match=r"^genetics.table.path: not set, and data.source=forams_sim carries"
    ):
        genetics_options(compose_cfg(["+experiment=gzsl", "genetics.source=table"]))
