"""ForamImageDataModule end to end on the tiny folder: facts, batches, gallery, bad input, Trainer."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn

from visgen.data.datamodules import ForamImageDataModule
from visgen.data.layouts.folder import FolderLayout
from visgen.data.layouts.forams_sim import ForamSimLayout
from visgen.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from visgen.errors import UserInputError
from visgen.eval import longtail


def _dm(root: Path, tmp_path: Path, **kw) -> ForamImageDataModule:
    args = {"image_size": 16, "batch_size": 8, "m_per_class": 2, "num_workers": 0}
    args.update(kw)
    return ForamImageDataModule(FolderLayout(root), cache_dir=tmp_path / "cache", **args)


def test_facts_after_setup(tiny_image_folder: Path, tmp_path: Path, tiny_counts: dict[str, int]) -> None:
    dm = _dm(tiny_image_folder, tmp_path)
    dm.prepare_data()
    assert not hasattr(dm, "class_names")  # prepare_data writes files and sets no state
    dm.setup("fit")
    assert dm.num_classes == 6 and sorted(dm.class_names) == sorted(tiny_counts)
    # Train counts follow the 0.7/0.1/0.2 split of each species (12 -> 9, 9 -> 6, 6 -> 4, 5 -> 3, 3 -> 1, 2 -> 1).
    expected = {
        "Globigerinoides_ruber": 9,
        "Globigerina_bulloides": 6,
        "Orbulina_universa": 4,
        "Globorotalia_menardii": 3,
        "Hastigerina_pelagica": 1,
        "Tenuitella_iota": 1,
    }
    assert dict(zip(dm.class_names, dm.train_counts.tolist(), strict=True)) == expected
    assert dm.scale == 1.0
    assert dm.shot_buckets == longtail.shot_buckets(dm.train_counts) == ["few"] * 6
    assert dm.rare_classes == list(range(6))
    assert dm.dataset_info["split_sizes"] == {"train": 24, "val": 5, "test": 8}


def test_forams_sim_test_floor_flags_extra_test_images(tmp_path: Path) -> None:
    sim = {"scale": 0.001, "size": 32, "seed": 1, "test_floor": 3}
    dm = ForamImageDataModule(
        ForamSimLayout(sim, cache_dir=tmp_path), image_size=16, num_workers=0, cache_dir=tmp_path
    )
    dm.setup("test")
    test = dm.test_dataloader()[0].dataset
    assert dm.extra_test.shape == (len(test),) and dm.extra_test.any() and not dm.extra_test.all()
    # Each species' test split is lifted to 3 images; the flags sit on exactly the images beyond its own.
    per_species = np.bincount(test.labels.numpy(), minlength=dm.num_classes)
    assert per_species.min() >= 3
    extra_names = {dm.class_names[int(c)] for c in test.labels.numpy()[dm.extra_test]}
    assert extra_names == set(dm.dataset_info["extra_test"]) & set(dm.class_names)  # classes="dna": 32 of 35
    assert dm.dataset_info["test_floor"] == 3
    # The long tail that sets the shot buckets ignores the extras (they are test images only).
    no_floor = ForamImageDataModule(
        ForamSimLayout({**sim, "test_floor": 0}, cache_dir=tmp_path),
        image_size=16,
        num_workers=0,
        cache_dir=tmp_path,
    )
    no_floor.setup("test")
    np.testing.assert_array_equal(no_floor.train_counts, dm.train_counts)
    assert no_floor.rare_classes == dm.rare_classes and not no_floor.extra_test.any()


def test_batches_are_dicts_with_the_right_shapes(tiny_image_folder: Path, tmp_path: Path) -> None:
    dm = _dm(tiny_image_folder, tmp_path)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"image", "label", "index"}
    assert batch["image"].shape == (8, 1, 16, 16) and batch["image"].dtype == torch.uint8
    assert batch["label"].dtype == torch.long and batch["index"].dtype == torch.long
    assert sorted(np.bincount(batch["label"].numpy()).tolist())[-4:] == [2, 2, 2, 2]  # 4 classes x 2
    out = dm.on_after_batch_transfer(batch, 0)  # no trainer attached: evaluation path
    expected = (batch["image"].float() / 255 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET_STD
    ).view(1, 3, 1, 1)
    assert out["image"].shape == (8, 3, 16, 16)
    torch.testing.assert_close(out["image"], expected)
    assert torch.equal(out["label"], batch["label"])


def test_gallery_is_the_training_set_in_order(tiny_image_folder: Path, tmp_path: Path) -> None:
    dm = _dm(tiny_image_folder, tmp_path, eval_batch_size=5)
    dm.setup("fit")
    val, gallery = dm.val_dataloader()
    test, gallery2 = dm.test_dataloader()
    g = list(gallery)
    labels = torch.cat([b["label"] for b in g])
    index = torch.cat([b["index"] for b in g])
    assert torch.equal(index, torch.arange(24))
    assert torch.equal(labels, dm._datasets["train"].labels)
    images = torch.cat([b["image"] for b in g])[:, 0].numpy()
    decoded = np.load(dm._images_path)
    assert np.array_equal(images, decoded[dm._datasets["train"].rows])
    assert torch.equal(torch.cat([b["label"] for b in gallery2]), labels)
    assert sum(len(b["index"]) for b in val) == 5 and sum(len(b["index"]) for b in test) == 8
    assert torch.equal(torch.cat([b["index"] for b in test]), torch.arange(8))


def test_device_resident_batches_equal_loaded_ones(tiny_image_folder: Path, tmp_path: Path) -> None:
    plain = _dm(tiny_image_folder, tmp_path)
    resident = _dm(tiny_image_folder, tmp_path, device_resident=True)
    plain.setup("fit")
    resident.setup("fit")
    a = next(iter(plain.train_dataloader()))
    b = next(iter(resident.train_dataloader()))
    assert "image" not in b and "row" in b
    assert torch.equal(a["index"], b["index"])
    torch.testing.assert_close(
        resident.on_after_batch_transfer(b, 0)["image"], plain.on_after_batch_transfer(a, 0)["image"]
    )


def test_bad_input_is_caught_before_training(tiny_image_folder: Path, tmp_path: Path) -> None:
    (tiny_image_folder / "Orbulina_universa" / "broken.png").write_text("not a png")
    strict = _dm(tiny_image_folder, tmp_path, on_bad_image="error")
    with pytest.raises(UserInputError, match=r"broken\.png: not an image"):
        strict.prepare_data()
    lenient = _dm(tiny_image_folder, tmp_path)
    lenient.prepare_data()
    lenient.setup("fit")
    assert lenient.skipped == {"not an image": 1}
    assert sum(lenient.dataset_info["split_sizes"].values()) == 37  # the 38th file is dropped
    with pytest.raises(UserInputError, match="needs 8 classes per batch"):
        _dm(tiny_image_folder, tmp_path / "x", m_per_class=1).setup("fit")
    with pytest.raises(UserInputError, match=r"data\.root is not set"):
        FolderLayout.from_config({"root": None}, cache_dir=tmp_path)
    with pytest.raises(UserInputError, match="unknown keys"):
        ForamImageDataModule(FolderLayout(tiny_image_folder), augment={"rotate": 10})


class _TinyNet(L.LightningModule):
    """Records what the Trainer hands to each step (no learning needed for this test)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3 * 16 * 16, 2)
        self.seen: list[tuple[str, int, tuple[int, ...], bool]] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.seen.append(("train", 0, tuple(batch["image"].shape), batch["image"].dtype == torch.float32))
        return self.layer(batch["image"].flatten(1)).sum()

    def validation_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self.seen.append(
            ("val", dataloader_idx, tuple(batch["image"].shape), batch["image"].dtype == torch.float32)
        )

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _two_batch_trainer(**device: object) -> L.Trainer:
    """A quiet one-epoch Trainer that stops after two training batches."""
    return L.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=2,
        **device,
    )


def test_trainer_fit_augments_train_only(tiny_image_folder: Path, tmp_path: Path, monkeypatch) -> None:
    dm = _dm(tiny_image_folder, tmp_path)
    calls: list[bool] = []
    original = dm.augmenter.forward
    monkeypatch.setattr(
        dm.augmenter, "forward", lambda x, train=False: calls.append(train) or original(x, train)
    )
    net = _TinyNet()
    _two_batch_trainer(accelerator="cpu").fit(net, datamodule=dm)
    train_steps = [s for s in net.seen if s[0] == "train"]
    assert len(train_steps) == 2 and all(s[2] == (8, 3, 16, 16) and s[3] for s in train_steps)
    assert {s[1] for s in net.seen if s[0] == "val"} == {0, 1}  # val and gallery loaders
    assert calls.count(True) == 2 and calls.count(False) == len(net.seen) - 2


def test_ddp_ranks_shard_train_and_eval(tiny_image_folder: Path, tmp_path: Path) -> None:
    per_rank = []
    for rank in (0, 1):
        dm = _dm(tiny_image_folder, tmp_path, eval_batch_size=4)
        dm.setup("fit")
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2, training=False)  # what the loaders read
        train = [b["index"].tolist() for b in dm.train_dataloader()]
        test = torch.cat([b["index"] for b in dm.test_dataloader()[0]]).tolist()
        per_rank.append((train, test))
    (train0, test0), (train1, test1) = per_rank
    assert len(train0) == len(train1) == 24 // 8 // 2
    assert not {tuple(b) for b in train0} & {tuple(b) for b in train1}
    # 8 test images over 2 ranks: 4 each, disjoint, together every image once.
    assert sorted(test0 + test1) == list(range(8)) and len(test0) == len(test1) == 4


def test_augmentation_stream_restarts_per_fit_per_rank_and_resumes(
    tiny_image_folder: Path, tmp_path: Path
) -> None:
    images = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    draws = {}
    for rank in (0, 1):
        dm = _dm(tiny_image_folder, tmp_path, seed=7)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2, training=True)
        dm.setup("fit")
        draws[rank] = dm.augmenter(images, train=True)
        dm.augmenter(images, train=True)  # a later stage's fit must not continue from here ...
        saved = dm.state_dict()
        dm.setup("fit")
        torch.testing.assert_close(dm.augmenter(images, train=True), draws[rank], atol=0, rtol=0)
    assert not torch.equal(draws[0], draws[1]), "DDP ranks must draw different augmentations"
    # ... but a resumed fit continues the saved stream of its own rank (Lightning: setup, then load_state_dict).
    dm = _dm(tiny_image_folder, tmp_path, seed=7)
    dm.trainer = SimpleNamespace(global_rank=1, world_size=2, training=True)
    dm.setup("fit")
    dm.load_state_dict(saved)
    expected = _dm(tiny_image_folder, tmp_path, seed=7).augmenter
    expected.reseed(8)
    expected(images, train=True), expected(images, train=True)
    torch.testing.assert_close(dm.augmenter(images, train=True), expected(images, train=True), atol=0, rtol=0)
    # Under DDP the checkpoint holds every rank's stream (gathered): rank 1 takes its own entry.
    dm.setup("fit")
    dm.load_state_dict({"augment_rng": {}, "rank": 0, "augment_rng_by_rank": [{}, saved["augment_rng"]]})
    expected.reseed(8)
    expected(images, train=True), expected(images, train=True)
    torch.testing.assert_close(dm.augmenter(images, train=True), expected(images, train=True), atol=0, rtol=0)
    # A checkpoint with only rank 0's stream (another world size, or visgen before the gather), or none (older
    # still): rank 1 keeps its own fresh stream.
    for state in (saved | {"rank": 0, "augment_rng_by_rank": [saved["augment_rng"]]}, {}):
        dm.setup("fit")
        dm.load_state_dict(state)
        torch.testing.assert_close(dm.augmenter(images, train=True), draws[1], atol=0, rtol=0)


def test_worker_processes_give_the_same_batches(tiny_image_folder: Path, tmp_path: Path) -> None:
    inline = _dm(tiny_image_folder, tmp_path, eval_batch_size=6)
    workers = _dm(tiny_image_folder, tmp_path, eval_batch_size=6, num_workers=2)
    inline.setup("fit")
    workers.setup("fit")
    next(iter(inline.gallery_dataloader()))  # opens the parent's memmap; workers must reopen theirs
    a = list(inline.gallery_dataloader())
    b = list(workers.gallery_dataloader())
    assert len(a) == len(b) == 4
    for x, y in zip(a, b, strict=True):
        assert all(torch.equal(x[k], y[k]) for k in ("image", "label", "index"))
    assert [t["index"].tolist() for t in inline.train_dataloader()] == [
        t["index"].tolist() for t in workers.train_dataloader()
    ]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_resident_fit_on_gpu(tiny_image_folder: Path, tmp_path: Path) -> None:
    dm = _dm(tiny_image_folder, tmp_path, device_resident=True, augment={"channels_last": True})
    net = _TinyNet()
    _two_batch_trainer(accelerator="gpu", devices=1).fit(net, datamodule=dm)
    assert [s[2] for s in net.seen if s[0] == "train"] == [(8, 3, 16, 16)] * 2
    assert all(s[3] for s in net.seen)
    # The resident gather on the GPU returns the same pixels as the host loader.
    host = _dm(tiny_image_folder, tmp_path)
    host.setup("fit")
    a = next(iter(host.gallery_dataloader()))
    b = next(iter(dm.gallery_dataloader()))
    b = dm.on_after_batch_transfer({k: v.cuda() for k, v in b.items()}, 1)
    torch.testing.assert_close(b["image"].cpu(), host.on_after_batch_transfer(a, 1)["image"])
