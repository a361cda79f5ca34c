"""AlignModule: the frozen trunk is bit-identical after training, anchors checked, logged and reloaded."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from visgen.errors import UserInputError
from visgen.lit.align import AlignModule, anchor_cosine_summary
from visgen.losses.align import CosineAlignLoss
from visgen.models.backbone import EmbeddingNet


class DictImages(Dataset):
    """Random 32-px images with labels 0..C-1, as dict samples like the real data module's."""

    def __init__(self, n: int, num_classes: int) -> None:
        self.images = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        self.labels = torch.arange(n) % num_classes

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "label": self.labels[i], "index": torch.tensor(i)}


def make_module(seed: int = 0, **kwargs: object) -> AlignModule:
    torch.manual_seed(seed)
    net = EmbeddingNet(num_classes=3, trunk="resnet18")
    anchors = torch.randn(3, 256)
    return AlignModule(
        net,
        anchors,
        CosineAlignLoss(margin=0.5),
        optimizer=functools.partial(torch.optim.SGD, lr=1.0),
        **kwargs,  # type: ignore[arg-type]
    )


def fit(module: AlignModule, steps: int = 3) -> L.Trainer:
    trainer = L.Trainer(
        accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, DataLoader(DictImages(12, 3), batch_size=4))
    return trainer


def test_frozen_trunk_is_bit_identical_after_training() -> None:
    module = make_module()
    trunk = {k: v.clone() for k, v in module.net.trunk.state_dict().items()}
    classifier = module.net.classifier.weight.clone()
    head = module.net.embed_head.weight.clone()
    module.train()  # what older Lightning versions do at fit start: must not unfreeze BatchNorm
    fit(module)
    state = module.net.trunk.state_dict()
    assert any("running_mean" in k for k in state)  # BatchNorm buffers are part of the comparison
    for key, value in trunk.items():
        assert torch.equal(state[key], value), key
    assert torch.equal(module.net.classifier.weight, classifier)  # ce_weight=0: classifier frozen
    assert not torch.equal(module.net.embed_head.weight, head)


def test_unfrozen_trunk_does_change() -> None:
    module = make_module(freeze_trunk=False, ce_weight=1.0)
    before = module.net.trunk.conv1.weight.clone()
    classifier = module.net.classifier.weight.clone()
    fit(module, steps=1)
    assert not torch.equal(module.net.trunk.conv1.weight, before)
    assert not torch.equal(module.net.classifier.weight, classifier)


def test_anchor_cosine_summary_by_hand() -> None:
    anchors = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    s = anchor_cosine_summary(anchors)
    assert s["cos_min"] == pytest.approx(0.0, abs=1e-12)
    assert s["cos_median"] == pytest.approx(1 / math.sqrt(2))
    assert s["cos_max"] == pytest.approx(1 / math.sqrt(2))


@pytest.mark.parametrize(
    ("anchors", "match"),
    [
        (torch.randn(4, 256), "shape"),
        (torch.zeros(3, 256), "all-zero"),
        (torch.full((3, 256), math.nan), "no species with DNA"),
    ],
)
def test_bad_anchors_are_user_errors(anchors: torch.Tensor, match: str) -> None:
    net = EmbeddingNet(num_classes=3, trunk="resnet18")
    with pytest.raises(UserInputError, match=match):
        AlignModule(net, anchors, CosineAlignLoss(), optimizer=functools.partial(torch.optim.SGD, lr=0.1))


def test_checkpoint_round_trip_restores_net_and_anchors(tmp_path: Path) -> None:
    module = make_module()
    trainer = fit(module, steps=1)
    path = tmp_path / "align.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert torch.equal(ckpt["state_dict"]["anchors"], module.anchors)
    other = make_module(seed=5)
    other.load_state_dict(ckpt["state_dict"])
    assert torch.equal(other.anchors, module.anchors)
    x = torch.randn(3, 3, 32, 32)
    module.eval()
    other.eval()
    with torch.no_grad():
        assert torch.equal(module(x)["embedding"], other(x)["embedding"])


def test_feature_reuse_trains_identically_and_skips_the_trunk() -> None:
    def train(reuse: bool) -> AlignModule:
        module = make_module(reuse_features=reuse)
        L.Trainer(
            accelerator="cpu", max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False,
        ).fit(module, DataLoader(DictImages(12, 3), batch_size=4))  # fmt: skip
        return module

    plain, reused = train(False), train(True)
    assert plain.trunk_batches == 6 and reused.trunk_batches == 3  # epoch 2 ran on cached features
    assert torch.equal(plain.net.embed_head.weight, reused.net.embed_head.weight)
    assert not any(k.startswith("_feature") for k in reused.state_dict())
    with pytest.raises(UserInputError, match="freeze_trunk"):
        make_module(reuse_features=True, freeze_trunk=False)
