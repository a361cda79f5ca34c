"""AlignModule under align.sampling=instance_uniform_negative: the batch is positives then their negatives."""

from __future__ import annotations

import functools

import pytest
import torch

from visgen.errors import UserInputError
from visgen.lit.align import AlignModule
from visgen.losses.align import CosineAlignLoss
from visgen.models.backbone import EmbeddingNet


def _module(sampling: str) -> AlignModule:
    torch.manual_seed(0)
    net = EmbeddingNet(num_classes=3, trunk="resnet18", head="two_layer", head_hidden=32)
    module = AlignModule(
        net,
        torch.randn(3, 256),
        CosineAlignLoss(margin=0.5),
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        sampling=sampling,
    )
    module.log = lambda *args, **kwargs: None  # type: ignore[method-assign]  # no trainer here
    return module.eval()


def test_instance_step_scores_each_positive_against_its_own_negative_only() -> None:
    module = _module("instance_uniform_negative")
    images = torch.randn(4, 3, 32, 32)
    labels = torch.tensor([0, 1, 2, 0])  # positives (0, 1), then their negatives (2, 0)
    batch = {"image": images, "label": labels, "index": torch.arange(4)}
    loss = module.training_step(batch, 0)
    emb = module.net(images)["embedding"]
    anchors = module.anchors
    cos = torch.nn.functional.cosine_similarity
    pos = (1 - cos(anchors[[0, 1]], emb[:2], dim=1)).mean()
    neg = torch.relu(cos(anchors[[0, 1]], emb[2:], dim=1) - 0.5).mean()
    torch.testing.assert_close(loss, pos + neg)


def test_batch_step_is_unchanged_by_the_switch_default() -> None:
    module = _module("m_per_class")
    batch = {
        "image": torch.randn(4, 3, 32, 32),
        "label": torch.tensor([0, 1, 2, 0]),
        "index": torch.arange(4),
    }
    loss = module.training_step(batch, 0)
    expected = module.loss(module.net(batch["image"])["embedding"], batch["label"], module.anchors)["loss"]
    torch.testing.assert_close(loss, expected)


def test_unknown_sampling_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match=r"align\.sampling=pairs: unknown"):
        _module("pairs")
