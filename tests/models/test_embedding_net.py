"""EmbeddingNet: output contract, weight loading (local file, never the network), frozen trunk."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

import visgen.models.backbone as backbone
from visgen.errors import UserInputError
from visgen.models.backbone import EmbeddingNet


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt fails, as it would on an offline machine."""

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)


def test_forward_shapes() -> None:
    net = EmbeddingNet(num_classes=7, trunk="resnet18", embedding_dim=256).eval()
    out = net(torch.randn(2, 3, 32, 32))
    assert out["features"].shape == (2, 512)
    assert out["embedding"].shape == (2, 256)
    assert out["logits"].shape == (2, 7)
    # The classifier reads the embedding (see the class docstring).
    torch.testing.assert_close(out["logits"], net.classifier(out["embedding"]))


def test_loads_local_state_dict_offline(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "r18.pth"
    torch.save(source.state_dict(), path)
    torch.manual_seed(2)
    net = EmbeddingNet(num_classes=3, trunk="resnet18", weights=path)
    expected = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    got = net.trunk.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


def test_mismatched_state_dict_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), path)
    with pytest.raises(UserInputError, match="does not match torchvision resnet18"):
        EmbeddingNet(num_classes=3, trunk="resnet18", weights=path)


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not found"):
        EmbeddingNet(num_classes=3, trunk="resnet18", weights=tmp_path / "absent.pth")


def test_enum_name_offline_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserInputError, match=r"could not download .*weights=null") as info:
        EmbeddingNet(num_classes=3, trunk="resnet18", weights="IMAGENET1K_V1")
    assert "\n" not in str(info.value)


def test_unknown_enum_and_trunk_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="no such weights"):
        EmbeddingNet(num_classes=3, trunk="resnet18", weights="IMAGENET9K")
    with pytest.raises(UserInputError, match="not a supported trunk"):
        EmbeddingNet(num_classes=3, trunk="vit_b_16")
    assert "resnet50" in backbone._RESNET_TRUNKS


def test_frozen_trunk_stays_in_eval_mode() -> None:
    net = EmbeddingNet(num_classes=3, trunk="resnet18")
    net.set_trunk_frozen(True)
    net.train()
    assert not any(m.training for m in net.trunk.modules())
    assert net.embed_head.training and net.classifier.training
    assert not any(p.requires_grad for p in net.trunk.parameters())
    net.set_trunk_frozen(False)
    net.train()
    assert all(m.training for m in net.trunk.modules())


def test_channels_last_gives_the_same_outputs() -> None:
    torch.manual_seed(0)
    plain = EmbeddingNet(num_classes=3, trunk="resnet18").eval()
    torch.manual_seed(0)
    cl = EmbeddingNet(num_classes=3, trunk="resnet18", channels_last=True).eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(cl(x)["embedding"], plain(x)["embedding"], rtol=1e-4, atol=1e-5)
