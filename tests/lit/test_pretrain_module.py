"""MetricPretrainModule: loss weighting, class-balanced CE, MaxNorm, frozen trunk, checkpoint round-trip."""

from __future__ import annotations

import functools
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from visgen.errors import UserInputError
from visgen.lit.pretrain import MetricPretrainModule, apply_max_norm_, class_balanced_weights
from visgen.losses.triplet import TripletLoss
from visgen.models.backbone import EmbeddingNet


class DictImages(Dataset):
    """Random 32-px images with labels 0..C-1, as dict samples like the real data module's."""

    def __init__(self, n: int, num_classes: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, 32, 32, generator=g)
        self.labels = torch.arange(n) % num_classes

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int | slice) -> dict[str, torch.Tensor]:
        index = torch.arange(len(self.labels))[i]
        return {"image": self.images[i], "label": self.labels[i], "index": index}


def make_module(**kwargs: object) -> MetricPretrainModule:
    torch.manual_seed(0)
    net = EmbeddingNet(num_classes=3, trunk="resnet18")
    defaults: dict[str, object] = {
        "metric_loss": TripletLoss(reciprocal=True),
        "optimizer": functools.partial(torch.optim.SGD, lr=0.5, weight_decay=5e-3),
    }
    return MetricPretrainModule(net, **{**defaults, **kwargs})  # type: ignore[arg-type]


def fit(module: L.LightningModule, steps: int = 2) -> L.Trainer:
    trainer = L.Trainer(
        accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, DataLoader(DictImages(12, 3), batch_size=6))
    return trainer


def test_loss_is_weighted_sum_of_terms() -> None:
    torch.manual_seed(3)
    out = {"embedding": torch.randn(8, 256), "logits": torch.randn(8, 3)}
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
    terms = make_module(metric_weight=0.01, ce_weight=1.0).loss_terms(out, labels)
    ce = torch.nn.functional.cross_entropy(out["logits"], labels)
    rtl = TripletLoss(reciprocal=True)(out["embedding"], labels)["loss"]
    torch.testing.assert_close(terms["ce"], ce)
    torch.testing.assert_close(terms["metric"], rtl)
    torch.testing.assert_close(terms["loss"], 0.01 * rtl + ce)
    metric_only = make_module(metric_weight=1.0, ce_weight=0.0).loss_terms(out, labels)
    assert "ce" not in metric_only
    torch.testing.assert_close(metric_only["loss"], rtl)
    softmax_only = make_module(metric_loss=None, metric_weight=0.0).loss_terms(out, labels)
    assert "metric" not in softmax_only
    torch.testing.assert_close(softmax_only["loss"], ce)


def test_class_balanced_weights_and_weighted_ce() -> None:
    w = class_balanced_weights([10, 30, 0, 60])
    # 1/n = [.1, 1/30, 0, 1/60], sum .15, three present classes -> scale 3/.15 = 20.
    torch.testing.assert_close(w, torch.tensor([2.0, 2 / 3, 0.0, 1 / 3]))
    module = make_module(metric_loss=None, metric_weight=0.0, class_balanced=True, class_counts=[10, 30, 60])
    logits = torch.randn(5, 3)
    labels = torch.tensor([0, 1, 2, 2, 1])
    wc = class_balanced_weights([10, 30, 60])
    nll = -torch.log_softmax(logits, dim=1)[torch.arange(5), labels]
    expected = (wc[labels] * nll).sum() / wc[labels].sum()
    got = module.loss_terms({"embedding": torch.randn(5, 256), "logits": logits}, labels)["ce"]
    torch.testing.assert_close(got, expected)


def test_max_norm_projection() -> None:
    w = torch.tensor([[0.3, 0.4], [1.2, 1.6], [0.0, -3.0]])  # norms 0.5, 2, 3
    apply_max_norm_(w, 1.0)
    torch.testing.assert_close(w, torch.tensor([[0.3, 0.4], [0.6, 0.8], [0.0, -1.0]]))


def test_stage_two_freezes_trunk_and_applies_max_norm() -> None:
    module = make_module(freeze_trunk=True, class_balanced=True, class_counts=[4, 4, 4], max_norm=0.1)
    trunk_before = {k: v.clone() for k, v in module.net.trunk.state_dict().items()}
    assert module.net.classifier.weight.norm(dim=1).max() > 0.1  # the projection has work to do
    head_before = module.net.embed_head.weight.clone()
    fit(module, steps=2)
    for key, value in module.net.trunk.state_dict().items():
        assert torch.equal(value, trunk_before[key]), key  # weights and BatchNorm buffers
    assert not torch.equal(module.net.embed_head.weight, head_before)
    assert module.net.classifier.weight.norm(dim=1).max() <= 0.1 + 1e-6


def test_invalid_weights_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="not both 0"):
        make_module(metric_weight=0.0, ce_weight=0.0)
    with pytest.raises(UserInputError, match="no metric loss"):
        make_module(metric_loss=None, metric_weight=0.01)


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    module = make_module(class_balanced=True, class_counts=[4, 4, 4])
    trainer = fit(module, steps=1)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["hyper_parameters"]["class_counts"] == [4, 4, 4]
    torch.manual_seed(99)  # a differently initialised net, so only the checkpoint can make them agree
    reloaded = MetricPretrainModule.load_from_checkpoint(
        path, net=EmbeddingNet(num_classes=3, trunk="resnet18"), metric_loss=TripletLoss(reciprocal=True),
        optimizer=functools.partial(torch.optim.SGD, lr=0.1), weights_only=True,
    )  # fmt: skip
    x = torch.randn(4, 3, 32, 32)
    module.eval()
    reloaded.eval()
    with torch.no_grad():
        a, b = module(x), reloaded(x)
    for key in ("embedding", "logits"):
        assert torch.equal(a[key], b[key]), key
    torch.testing.assert_close(reloaded.ce_class_weights, class_balanced_weights([4, 4, 4]))


def test_bf16_autocast_gives_float32_embeddings_and_losses() -> None:
    module = make_module()
    fit(module, steps=1)  # attaches a trainer, so the step's self.log calls are legal
    batch = DictImages(6, 3)[0:6]  # a slice is already a collated dict batch
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module.net(batch["image"])
        assert out["embedding"].dtype == torch.bfloat16  # autocast is really active
        step = module.validation_step(batch, 0, dataloader_idx=1)
        terms = module.loss_terms(out, batch["label"])
    assert step["embedding"].dtype == torch.float32
    assert terms["loss"].dtype == torch.float32 and torch.isfinite(terms["loss"])


def test_resume_from_checkpoint_equals_uninterrupted_training(tmp_path: Path) -> None:
    def module() -> MetricPretrainModule:
        return make_module(
            optimizer=functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9, weight_decay=5e-3),
            scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5),
            class_balanced=True,
            class_counts=[4, 4, 4],
            max_norm=0.5,
        )

    def trainer(epochs: int) -> L.Trainer:
        return L.Trainer(
            accelerator="cpu", max_epochs=epochs, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        )  # fmt: skip

    data = DataLoader(DictImages(12, 3), batch_size=6)  # 2 steps per epoch, fixed order
    straight = module()
    trainer(2).fit(straight, data)

    first = module()
    interrupted = trainer(1)
    interrupted.fit(first, data)
    interrupted.save_checkpoint(tmp_path / "last.ckpt")
    resumed = module()
    torch.nn.init.zeros_(resumed.net.embed_head.weight)  # only the checkpoint can restore it
    trainer(2).fit(resumed, data, ckpt_path=tmp_path / "last.ckpt", weights_only=True)

    for (key, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), key
