"""Under DDP a resumed fit continues every rank's augmentation stream: 2 CPU processes, 1 + 1 epochs == 2 epochs."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
import torch.distributed
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from visgen.data.datamodules import ForamImageDataModule
from visgen.data.layouts.folder import FolderLayout


class _Fit(L.LightningModule):
    """A linear map trained on the augmented pixels: its weights depend on every rank's augmentations."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(3 * 16 * 16, 4)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return (self.layer(batch["image"].flatten(1)) ** 2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(
    root: Path, cache: Path, out: Path, epochs: int, ckpt: Path | None = None
) -> dict[str, torch.Tensor]:
    dm = ForamImageDataModule(
        FolderLayout(root),
        cache_dir=cache,
        image_size=16,
        batch_size=4,
        m_per_class=2,
        num_workers=0,
        seed=3,
    )
    # One checkpoint per epoch: epoch 0's is the interrupted fit's last state (the 2-epoch fit itself is the
    # uninterrupted one, so no separate 1-epoch fit is started).
    every = ModelCheckpoint(
        dirpath=out,
        filename="{epoch}",
        save_top_k=-1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp_fork", max_epochs=epochs, limit_val_batches=0, logger=False,
        use_distributed_sampler=False,  # the data module shards by rank itself, as conf/trainer does
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=out, callbacks=[every],
    )  # fmt: skip
    trainer.fit(_Fit(), datamodule=dm, ckpt_path=ckpt)
    return torch.load(out / f"epoch={epochs - 1}.ckpt", weights_only=False)["state_dict"]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_resumed_two_rank_fit_equals_an_uninterrupted_one(
    tiny_image_folder: Path, tmp_path: Path, fork_safe_threads: None
) -> None:
    cache = tmp_path / "cache"
    full = _fit(tiny_image_folder, cache, tmp_path / "full", epochs=2)
    interrupted = tmp_path / "full" / "epoch=0.ckpt"  # what a fit stopped after epoch 1 leaves
    half = torch.load(interrupted, weights_only=False)
    resumed = _fit(tiny_image_folder, cache, tmp_path / "resumed", epochs=2, ckpt=interrupted)
    assert any(not torch.equal(half["state_dict"][k], full[k]) for k in full)  # the second epoch did train
    for key in full:
        torch.testing.assert_close(resumed[key], full[key], atol=0, rtol=0)
    assert len(half["ForamImageDataModule"]["augment_rng_by_rank"]) == 2
