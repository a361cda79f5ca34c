"""ResNet trunk with a 256-D embedding head and a softmax classifier (Karaderi et al., Fig. 2).

The trunk comes from torchvision's model builders; pretrained weights go through torchvision's weights
API (an enum name such as ``"IMAGENET1K_V2"``) or a local state-dict file, which is read with
``weights_only=True`` and never touches the network.
"""

from __future__ import annotations

import logging
import urllib.error
from collections import OrderedDict
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from visgen.errors import UserInputError

log = logging.getLogger(__name__)

# ResNet-family builders all end in global average pooling followed by ``fc``; replacing ``fc`` by an
# identity turns any of them into a pooled-feature trunk without name-sniffing per architecture.
_RESNET_TRUNKS = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "wide_resnet50_2",
    "wide_resnet101_2",
)


def _load_trunk(name: str, weights: str | Path | None) -> nn.Module:
    """Build a torchvision ResNet and load its weights.

    Args:
        name: torchvision builder name, one of ``_RESNET_TRUNKS``.
        weights: ``None`` (random init), a weights enum name of that builder (``"IMAGENET1K_V2"``,
            ``"DEFAULT"``), or a path to a local state dict of the full torchvision model (``fc`` keys are
            allowed and ignored).

    Returns:
        The torchvision model with ``fc`` still in place.

    Raises:
        UserInputError: unknown trunk, unknown enum name, unreadable file, or download impossible.
    """
    if name not in _RESNET_TRUNKS:
        raise UserInputError(
            f"model.net.trunk={name}: not a supported trunk; use one of {', '.join(_RESNET_TRUNKS)}"
        )
    if weights is None:
        return torchvision.models.get_model(name, weights=None)
    path = Path(weights)
    if path.suffix in {".pt", ".pth", ".ckpt", ".bin"} or path.is_file():
        model = torchvision.models.get_model(name, weights=None)
        load_trunk_state(model, path, name)
        return model
    try:
        enum = torchvision.models.get_model_weights(name)[str(weights)]
    except KeyError:
        names = [w.name for w in torchvision.models.get_model_weights(name)]
        raise UserInputError(
            f"model.net.weights={weights!r}: no such weights for {name}; use one of {names}, a local file or null"
        ) from None
    try:
        # Served from the torch hub cache when present, so a machine that downloaded once runs offline.
        return torchvision.models.get_model(name, weights=enum)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        raise UserInputError(
            f"model.net.weights={weights!r}: could not download {enum.url} ({type(exc).__name__}); download it into "
            f"{torch.hub.get_dir()}/checkpoints, pass a local state-dict path, or use model.net.weights=null"
        ) from exc


def load_trunk_state(model: nn.Module, path: Path, name: str) -> None:
    """Load a torchvision state dict from ``path`` into ``model``, every key and shape checked.

    ``load_state_dict`` reports a shape mismatch as a multi-line RuntimeError after half the tensors are
    copied; here every key and shape is compared first, so a wrong file (a ResNet18 dict for a ResNet50,
    a checkpoint of another model) fails with one line naming the file and the first offending tensor.
    ``fc.*`` keys (the ImageNet classifier) are allowed and ignored; a ``module.`` prefix (DataParallel) is
    removed.

    Args:
        model: a torchvision model of builder ``name``, with ``fc`` still in place.
        path: the state-dict file (``torch.save(model.state_dict(), path)``).
        name: the builder name, for the message.

    Raises:
        UserInputError: file missing, unreadable, not a state dict, or keys/shapes that do not match.
    """
    key = f"model.net.weights={path}"
    if not path.is_file():
        raise UserInputError(f"{key}: weights file not found; fix the path or use model.net.weights=null")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/unsafe files
        raise UserInputError(
            f"{key}: not a readable state dict ({type(exc).__name__}); save one with torch.save(model.state_dict())"
        ) from exc
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise UserInputError(
            f"{key}: holds no plain state dict of tensors; save model.state_dict() of {name}"
        )
    state = {
        k.removeprefix("module."): v
        for k, v in state.items()
        if not k.removeprefix("module.").startswith("fc.")
    }
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise UserInputError(
            f"{key}: does not match torchvision {name} (missing {len(missing)}, unexpected {len(unexpected)} keys, "
            f"e.g. {(missing + unexpected)[0]}); pass a state dict of torchvision.models.{name}"
        )
    wrong = [k for k, v in own.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        k = wrong[0]
        raise UserInputError(
            f"{key}: {len(wrong)} tensors have the wrong shape for torchvision {name}, e.g. {k} "
            f"{tuple(state[k].shape)} instead of {tuple(own[k].shape)}; pass a state dict of torchvision.models.{name}"
        )
    model.load_state_dict(state, strict=False)  # fc.* stays at its init: EmbeddingNet replaces it anyway
    log.info("loaded %s trunk weights (%d tensors) from %s", name, len(state), path)


HEADS: tuple[str, ...] = ("linear", "two_layer")


def build_embed_head(kind: str, in_features: int, embedding_dim: int, hidden: int) -> nn.Module:
    """The embedding head on pooled trunk features.

    Args:
        kind: ``"linear"`` (ours: one Linear F→E) or ``"two_layer"`` (the authors' released code:
            ``fc`` F→hidden, ReLU, ``fc_embedding`` hidden→E).
        in_features: F, the trunk's pooled width (512 for ResNet18, 2048 for ResNet50).
        embedding_dim: E.
        hidden: width of the two-layer head's middle layer (ignored by ``"linear"``).

    Returns:
        A module mapping [B, F] to [B, E].
    """
    if kind == "linear":
        return nn.Linear(in_features, embedding_dim)
    if kind == "two_layer":
        if hidden < 1:
            raise UserInputError(f"model.head_hidden={hidden}: must be >= 1")
        return nn.Sequential(
            OrderedDict(
                fc=nn.Linear(in_features, hidden),
                relu=nn.ReLU(),
                fc_embedding=nn.Linear(hidden, embedding_dim),
            )
        )
    raise UserInputError(f"model.head={kind}: unknown head; use one of {', '.join(HEADS)}")


class EmbeddingNet(nn.Module):
    """ResNet trunk → pooled features → embedding head → embedding → Linear → class logits.

    The classifier sits on the embedding rather than on the pooled features so that cross-entropy shapes
    the same 256-D space the KNN evaluation and the genetic alignment use (the paper's joint RTL+softmax
    training only helps KNN if both losses act on one space).

    Args:
        num_classes: number of species C.
        trunk: torchvision ResNet builder name.
        embedding_dim: size of the embedding (256 in the paper, matching 16x16 SGT vectors).
        weights: ``None``, a weights enum name, or a local state-dict path; see ``_load_trunk``.
        channels_last: store weights and inputs in channels-last layout (faster convolutions on GPUs).
        head: ``"linear"`` (default) or ``"two_layer"`` (fc → ReLU → fc_embedding); see ``build_embed_head``.
        head_hidden: the two-layer head's middle width.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        trunk: str = "resnet50",
        embedding_dim: int = 256,
        weights: str | Path | None = None,
        channels_last: bool = False,
        head: str = "linear",
        head_hidden: int = 1000,
    ) -> None:
        super().__init__()
        if num_classes < 1 or embedding_dim < 1:
            raise UserInputError(
                f"EmbeddingNet: num_classes={num_classes}, embedding_dim={embedding_dim}; both must be >= 1"
            )
        model = _load_trunk(trunk, weights)
        self.feature_dim = int(model.fc.in_features)
        model.fc = nn.Identity()
        self.trunk = model
        self.embedding_dim = int(embedding_dim)
        self.embed_head = build_embed_head(head, self.feature_dim, embedding_dim, int(head_hidden))
        self.classifier = nn.Linear(embedding_dim, num_classes)
        self.channels_last = channels_last
        self._trunk_frozen = False
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def set_trunk_frozen(self, frozen: bool) -> None:
        """Freeze (or unfreeze) the trunk: no gradients AND BatchNorm statistics kept fixed.

        ``requires_grad=False`` alone would still update BatchNorm running means in train mode, so a
        frozen trunk is also pinned to eval mode by ``train()`` below.
        """
        self._trunk_frozen = frozen
        for p in self.trunk.parameters():
            p.requires_grad_(not frozen)
        self.train(self.training)

    @property
    def trunk_frozen(self) -> bool:
        """Whether the trunk is frozen (see ``set_trunk_frozen``)."""
        return self._trunk_frozen

    def train(self, mode: bool = True) -> EmbeddingNet:
        """Set train/eval mode, keeping a frozen trunk in eval mode (Lightning calls this every epoch)."""
        super().train(mode)
        if self._trunk_frozen:
            self.trunk.eval()
        return self

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Embed a batch of images.

        Args:
            x: images, float [B, 3, H, W], already normalised.

        Returns:
            ``features`` [B, F] pooled trunk features, ``embedding`` [B, E], ``logits`` [B, C].
        """
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.heads(self.trunk(x))

    def heads(self, features: Tensor) -> dict[str, Tensor]:
        """Apply the embedding and classifier heads to pooled trunk features.

        Args:
            features: [B, F] pooled trunk features (e.g. cached ones when the trunk is frozen).

        Returns:
            ``features`` [B, F], ``embedding`` [B, E], ``logits`` [B, C].
        """
        embedding = self.embed_head(features)
        return {"features": features, "embedding": embedding, "logits": self.classifier(embedding)}
