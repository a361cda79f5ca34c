"""End-to-end pipeline on a shrunk real config: outputs, KNN oracle, cache reuse, resume, seeding, user errors.

``python run.py`` itself, as a user types it, is in ``test_run_py.py``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_tiny_image_folder
from tests.pipeline_fixtures import PIPELINE_COUNTS, brute_force_knn_acc, compose_cfg, tiny_overrides
from visgen.errors import UserInputError
from visgen.run.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny image folder plus the first full run (pretrain + align) into a fresh cache."""
    base = tmp_path_factory.mktemp("pipeline")
    write_tiny_image_folder(base / "images", PIPELINE_COUNTS)
    run(compose_cfg(tiny_overrides(base / "images", base / "cache")), base / "run_a")
    return base


def _ckpt_meta(path: Path) -> dict:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return {"epoch": ckpt["epoch"], "global_step": ckpt["global_step"]}


def _only_cache_entry(cache_dir: Path) -> Path:
    """The one pretraining folder in a cache (its lock file lies beside it)."""
    (entry,) = [p for p in (cache_dir / "pretrain").iterdir() if p.is_dir()]
    return entry


def test_run_writes_every_stage_output(workspace: Path) -> None:
    run_dir = workspace / "run_a"
    record = json.loads((run_dir / "run.json").read_text())
    assert (record["name"], record["profile"], record["status"], record["error"]) == (
        "ltr_align",
        "quick",
        "ok",
        "",
    )
    assert record["data"]["num_classes"] == len(PIPELINE_COUNTS)
    assert set(record["stages"]) == {"pretrain", "align"} and not record["stages"]["pretrain"]["reused"]
    for stage in ("pretrain", "align"):
        metrics = json.loads((run_dir / stage / "metrics.json").read_text())
        assert (metrics["stage"], metrics["profile"]) == (stage, "quick")
        assert (run_dir / stage / "embeddings.npz").is_file()
    cache = Path(record["stages"]["pretrain"]["cache"])
    assert {"best.ckpt", "last.ckpt", "complete.json"} <= {p.name for p in cache.iterdir()}
    assert "CPUs" in record["machine"] and "torch" in record["machine"]
    # The saved anchors are the ones the alignment trained on (the AlignModule's buffer in its checkpoint).
    trained = torch.load(record["stages"]["align"]["best"], map_location="cpu", weights_only=True)
    np.testing.assert_array_equal(
        np.load(run_dir / "align" / "anchors.npy"), trained["state_dict"]["anchors"].numpy()
    )


@pytest.mark.parametrize("stage", ["pretrain", "align"])
def test_metrics_equal_an_independent_knn(workspace: Path, stage: str) -> None:
    metrics = json.loads((workspace / "run_a" / stage / "metrics.json").read_text())
    with np.load(workspace / "run_a" / stage / "embeddings.npz") as npz:
        acc, per_class = brute_force_knn_acc(dict(npz))
    assert metrics["test/knn/acc"] == pytest.approx(acc, abs=1e-9)
    assert metrics["test/knn/per_class_acc"] == pytest.approx(per_class, abs=1e-9)


def test_second_run_reuses_the_pretraining(workspace: Path) -> None:
    cache = Path(json.loads((workspace / "run_a" / "run.json").read_text())["stages"]["pretrain"]["cache"])
    before = {name: (cache / name).stat().st_mtime_ns for name in ("best.ckpt", "last.ckpt", "complete.json")}
    # Alignment choices are not part of the pretraining: this row must reuse it, not train it again.
    run(
        compose_cfg(tiny_overrides(workspace / "images", workspace / "cache", "align.anchor_mode=centred")),
        workspace / "run_b",
    )
    record = json.loads((workspace / "run_b" / "run.json").read_text())
    assert record["status"] == "ok" and record["stages"]["pretrain"]["reused"]
    assert {name: (cache / name).stat().st_mtime_ns for name in before} == before
    marker = json.loads((cache / "complete.json").read_text())
    assert (marker["device"], marker["cpu_threads"]) == ("cpu", torch.get_num_threads())
    same = [json.loads((workspace / r / "pretrain" / "metrics.json").read_text()) for r in ("run_a", "run_b")]
    assert same[0] == same[1]


def test_a_pretraining_cached_by_an_older_evaluation_is_reported_with_todays_metrics(workspace: Path) -> None:
    # A cache entry written before the nearest-class-mean metrics (metrics version 1) must not leave the
    # report a blank column: the reuse re-evaluates its stored embeddings, and the result is what a fresh
    # pretraining reports (run_a), in the run folder and in the cache for the next reuse.
    entry = _only_cache_entry(workspace / "cache")
    fresh = json.loads((workspace / "run_a" / "pretrain" / "metrics.json").read_text())
    old = {k: v for k, v in fresh.items() if not k.startswith("test/ncm/") and k != "metrics_version"}
    (entry / "metrics.json").write_text(json.dumps(old))
    run(compose_cfg(tiny_overrides(workspace / "images", workspace / "cache")), workspace / "run_old_cache")
    record = json.loads((workspace / "run_old_cache" / "run.json").read_text())
    assert record["stages"]["pretrain"]["reused"]
    for path in (workspace / "run_old_cache" / "pretrain" / "metrics.json", entry / "metrics.json"):
        assert json.loads(path.read_text()) == fresh


def _assert_same_weights(a: Path, b: Path) -> None:
    sa, sb = (torch.load(p, map_location="cpu", weights_only=True)["state_dict"] for p in (a, b))
    assert sa.keys() == sb.keys()
    differ = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"


def test_alignment_does_not_depend_on_whether_the_pretraining_ran_in_this_process(workspace: Path) -> None:
    # run_a trained the pretraining and then aligned in one process (`make run`); this run reuses the cached
    # pretraining (a sweep's later rows). The alignment must not see the difference: same weights, same numbers.
    run(compose_cfg(tiny_overrides(workspace / "images", workspace / "cache")), workspace / "run_reuse")
    records = [json.loads((workspace / r / "run.json").read_text()) for r in ("run_a", "run_reuse")]
    assert not records[0]["stages"]["pretrain"]["reused"] and records[1]["stages"]["pretrain"]["reused"]
    _assert_same_weights(*(Path(r["stages"]["align"]["best"]) for r in records))
    metrics = [
        json.loads((workspace / r / "align" / "metrics.json").read_text()) for r in ("run_a", "run_reuse")
    ]
    assert metrics[0] == metrics[1]


def test_seeded_runs_reproduce_and_resume_continues(workspace: Path, tmp_path: Path) -> None:
    images = workspace / "images"
    ref = json.loads((workspace / "run_a" / "pretrain" / "metrics.json").read_text())
    ref_cache = Path(
        json.loads((workspace / "run_a" / "run.json").read_text())["stages"]["pretrain"]["cache"]
    )
    # Same seed, fresh cache, pretraining only: the same numbers as the first run.
    run(compose_cfg(tiny_overrides(images, tmp_path / "c1", "stages=[pretrain]")), tmp_path / "again")
    again = json.loads((tmp_path / "again" / "pretrain" / "metrics.json").read_text())
    assert (
        again["test/knn/acc"] == ref["test/knn/acc"]
        and again["test/knn/per_class_acc"] == ref["test/knn/per_class_acc"]
    )

    # Interrupted in the second epoch: run.json says failed, last.ckpt holds epoch 0, no completion marker.
    crash = "+callbacks.interrupt={_target_: tests.pipeline_fixtures.InterruptInEpoch, epoch: 1}"
    with pytest.raises(RuntimeError, match="simulated interruption"):
        run(
            compose_cfg(tiny_overrides(images, tmp_path / "c2", "stages=[pretrain]", crash)),
            tmp_path / "crashed",
        )
    assert json.loads((tmp_path / "crashed" / "run.json").read_text())["status"] == "failed"
    cache = _only_cache_entry(tmp_path / "c2")
    assert not (cache / "complete.json").exists()
    last = cache / "last.ckpt"
    assert _ckpt_meta(last)["epoch"] == 0
    # Resumed with ckpt_path: it trains only the second epoch and ends where an uninterrupted run ends.
    run(
        compose_cfg(tiny_overrides(images, tmp_path / "c2", "stages=[pretrain]", f"ckpt_path={last}")),
        tmp_path / "resumed",
    )
    assert (cache / "complete.json").is_file()
    assert _ckpt_meta(last) == _ckpt_meta(ref_cache / "last.ckpt")
    # ... bit for bit: the checkpoint carries the augmentation generator, the sampler derives from (seed, epoch).
    _assert_same_weights(last, ref_cache / "last.ckpt")
    with open(tmp_path / "resumed" / "pretrain" / "csv" / "version_0" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    epochs = {int(r["epoch"]) for r in rows if any(v for k, v in r.items() if k.startswith("train/"))}
    assert epochs == {1}, "the resumed run must not repeat epoch 0"


def test_align_feature_reuse_matches_recomputing_the_frozen_trunk(workspace: Path, tmp_path: Path) -> None:
    # Without augmentation the frozen trunk gives the same features every epoch, so reusing them from epoch 2
    # must leave the alignment's test numbers exactly where recomputing them puts them.
    images, plain = workspace / "images", ["data.augment.train=false", "align.epochs=2"]
    metrics = {}
    for reuse in (False, True):
        cfg = compose_cfg(tiny_overrides(images, tmp_path / "cache", *plain, f"align.reuse_features={reuse}"))
        run(cfg, tmp_path / f"reuse_{reuse}")
        metrics[reuse] = json.loads((tmp_path / f"reuse_{reuse}" / "align" / "metrics.json").read_text())
        best = json.loads((tmp_path / f"reuse_{reuse}" / "run.json").read_text())["stages"]["align"]["best"]
        assert (
            torch.load(best, map_location="cpu", weights_only=False)["hyper_parameters"]["reuse_features"]
            is reuse
        )
    for key in ("test/knn/acc", "test/knn/per_class_acc", "test/knn/rare_acc"):
        assert metrics[True][key] == metrics[False][key]
    augmented = compose_cfg(tiny_overrides(images, tmp_path / "cache", "align.reuse_features=true"))
    with pytest.raises(UserInputError, match=r"data\.augment\.train=false"):
        run(augmented, tmp_path / "refused")


def test_a_user_mistake_inside_a_hydra_constructor_is_one_line(workspace: Path, tmp_path: Path) -> None:
    # Hydra wraps what a constructor raises in InstantiationException; the mistake must come out unwrapped.
    cfg = compose_cfg(tiny_overrides(workspace / "images", tmp_path / "cache", "model.net.trunk=resnet51"))
    with pytest.raises(UserInputError, match=r"^model.net.trunk=resnet51: not a supported trunk; use one of"):
        run(cfg, tmp_path / "out")
    error = json.loads((tmp_path / "out" / "run.json").read_text())["error"]
    assert error.startswith("UserInputError: model.net.trunk=resnet51: not a supported trunk")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_speed_path_gives_consistent_outputs(workspace: Path, tmp_path: Path) -> None:
    # The paper profile's speed path (bf16 autocast, channels-last, device-resident uint8 images) on the
    # tiny data: it must produce the same kind of outputs, and metrics that match their embeddings.
    # trainer.accelerator must be named: the tiny overrides set it to cpu after the group is chosen.
    gpu = ["trainer=gpu", "trainer.accelerator=gpu", "model.channels_last=true", "data.device_resident=true"]
    run(compose_cfg(tiny_overrides(workspace / "images", tmp_path / "cache", *gpu)), tmp_path / "gpu")
    assert json.loads((tmp_path / "gpu" / "run.json").read_text())["status"] == "ok"
    for stage in ("pretrain", "align"):
        metrics = json.loads((tmp_path / "gpu" / stage / "metrics.json").read_text())
        with np.load(tmp_path / "gpu" / stage / "embeddings.npz") as npz:
            assert npz["query_embeddings"].dtype == np.float32
            acc, per_class = brute_force_knn_acc(dict(npz))
        assert metrics["test/knn/acc"] == pytest.approx(acc, abs=1e-9)
        assert metrics["test/knn/per_class_acc"] == pytest.approx(per_class, abs=1e-9)


def test_weight_balancing_runs_a_frozen_trunk_maxnorm_second_stage(workspace: Path, tmp_path: Path) -> None:
    wb = [
        "stages=[pretrain]",
        "trainer.max_epochs=1",
        "ltr=weight_balancing",
        "ltr.stage2.epochs=1",
        "ltr.stage2.max_norm=0.5",
    ]
    run(compose_cfg(tiny_overrides(workspace / "images", tmp_path / "cache", *wb)), tmp_path / "wb")
    cache = _only_cache_entry(tmp_path / "cache")
    stage1 = torch.load(cache / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    final = torch.load(cache / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    trunk = [k for k in stage1 if k.startswith("net.trunk.")]
    assert trunk and all(torch.equal(stage1[k], final[k]) for k in trunk), "stage 2 must not touch the trunk"
    # MaxNorm: every classifier row projected into the ball of radius 0.5 after each stage-2 step.
    assert float(final["net.classifier.weight"].norm(dim=1).max()) <= 0.5 + 1e-6
    assert json.loads((tmp_path / "wb" / "run.json").read_text())["status"] == "ok"


def test_weight_balancing_stage2_resumes_where_it_was_interrupted(workspace: Path, tmp_path: Path) -> None:
    images = workspace / "images"
    wb = ["stages=[pretrain]", "trainer.max_epochs=1", "ltr=weight_balancing", "ltr.stage2.epochs=2"]
    run(compose_cfg(tiny_overrides(images, tmp_path / "ref", *wb)), tmp_path / "uninterrupted")
    # Stage 1 has one epoch (0), so the crash hits stage 2's epoch 1; the rerun resumes on its own (no ckpt_path).
    crash = "+callbacks.interrupt={_target_: tests.pipeline_fixtures.InterruptInEpoch, epoch: 1}"
    with pytest.raises(RuntimeError, match="simulated interruption"):
        run(compose_cfg(tiny_overrides(images, tmp_path / "c", *wb, crash)), tmp_path / "crashed")
    assert _ckpt_meta(_only_cache_entry(tmp_path / "c") / "stage2" / "last.ckpt")["epoch"] == 0
    run(compose_cfg(tiny_overrides(images, tmp_path / "c", *wb)), tmp_path / "resumed")
    _assert_same_weights(
        _only_cache_entry(tmp_path / "c") / "best.ckpt", _only_cache_entry(tmp_path / "ref") / "best.ckpt"
    )
    with open(tmp_path / "resumed" / "pretrain" / "csv" / "version_1" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))  # version_1: stage 2's logger (stage 1 wrote version_0)
    assert {int(r["epoch"]) for r in rows if any(v for k, v in r.items() if k.startswith("train/"))} == {1}


def test_align_only_without_imagenet_weights_is_reported_unavailable(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "TORCH_HOME", str(tmp_path / "empty_torch_home")
    )  # an offline machine's empty hub cache
    cfg = compose_cfg(
        tiny_overrides(workspace / "images", tmp_path / "cache", "stages=[align]", "name=imagenet_align")
    )
    assert run(cfg, tmp_path / "fig9a") == {}
    record = json.loads((tmp_path / "fig9a" / "run.json").read_text())
    assert record["status"] == "unavailable" and "ImageNet weights" in record["error"]
    assert not (tmp_path / "fig9a" / "align").exists()
