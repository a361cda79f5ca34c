"""The authors' 2-layer embedding head (model.head=two_layer) and the strict local weights loader."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from visgen.errors import UserInputError
from visgen.models.backbone import EmbeddingNet


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt fails, as it would on an offline machine."""

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)


def test_two_layer_head_is_fc_relu_fc_embedding_with_the_right_shapes() -> None:
    torch.manual_seed(0)
    net = EmbeddingNet(
        num_classes=7, trunk="resnet18", embedding_dim=256, head="two_layer", head_hidden=100
    ).eval()
    fc, fc_embedding = net.embed_head.fc, net.embed_head.fc_embedding
    assert fc.weight.shape == (100, 512) and fc.bias.shape == (100,)
    assert fc_embedding.weight.shape == (256, 100) and fc_embedding.bias.shape == (256,)
    out = net(torch.randn(3, 3, 32, 32))
    assert out["features"].shape == (3, 512)
    assert out["embedding"].shape == (3, 256)
    assert out["logits"].shape == (3, 7)
    # Oracle: the two affine maps with a ReLU between them, written out by hand.
    f = out["features"]
    hidden = torch.clamp(f @ fc.weight.T + fc.bias, min=0.0)
    torch.testing.assert_close(out["embedding"], hidden @ fc_embedding.weight.T + fc_embedding.bias)
    torch.testing.assert_close(
        out["logits"], out["embedding"] @ net.classifier.weight.T + net.classifier.bias
    )


def test_the_default_head_stays_one_linear_layer() -> None:
    net = EmbeddingNet(num_classes=4, trunk="resnet18", embedding_dim=16)
    assert isinstance(net.embed_head, torch.nn.Linear) and net.embed_head.weight.shape == (16, 512)
    assert net.embedding_dim == 16


def test_unknown_head_is_a_one_line_user_error() -> None:
    with pytest.raises(
        UserInputError, match=r"^model.head=three_layer: unknown head; use one of linear, two_layer$"
    ):
        EmbeddingNet(num_classes=4, trunk="resnet18", head="three_layer")


def test_weights_file_written_here_round_trips_into_the_trunk(tmp_path: Path) -> None:
    torch.manual_seed(3)
    source = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "imagenet_like_r18.pth"
    torch.save(source.state_dict(), path)
    torch.manual_seed(4)  # another init: only the file can make the weights equal
    net = EmbeddingNet(num_classes=5, trunk="resnet18", weights=path, head="two_layer")
    expected = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    got = net.trunk.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    # The pretrained trunk gives the source's pooled features (BatchNorm statistics included).
    x = torch.randn(2, 3, 32, 32)
    source.fc = torch.nn.Identity()
    torch.testing.assert_close(net.eval()(x)["features"], source.eval()(x))


def test_a_shape_mismatch_names_the_file_and_tensor_in_one_line(tmp_path: Path) -> None:
    state = torchvision.models.resnet18().state_dict()
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 5, 5)  # same key, wrong kernel size
    path = tmp_path / "bad_r18.pth"
    torch.save(state, path)
    with pytest.raises(UserInputError) as err:
        EmbeddingNet(num_classes=3, trunk="resnet18", weights=path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"model.net.weights={path}: 1 tensors have the wrong shape")
    assert "layer1.0.conv1.weight (64, 64, 5, 5) instead of (64, 64, 3, 3)" in message


def test_a_file_without_a_state_dict_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(UserInputError, match="holds no plain state dict"):
        EmbeddingNet(num_classes=3, trunk="resnet18", weights=path)
