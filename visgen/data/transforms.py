"""Image transforms: CPU decode (re-exported) and the batched on-device augmentation.

The paper augments with a random rotation up to 90°, a slight Gaussian blur and a near-square random
resized crop (scale 0.9–1), on greyscale images replicated to three channels. Per-image PIL
transforms in DataLoader workers cannot feed an H100 at ~4,000 img/s, so here the whole batch is
augmented on the device: one ``affine_grid``/``grid_sample`` does rotation + crop + resize for every
image at once, and one grouped convolution does the per-image blur.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from visgen.data.decode import load_square_uint8

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "AugmentParams", "BatchAugment", "load_square_uint8"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class AugmentParams:
    """Per-image augmentation parameters, each a float tensor [B].

    Attributes:
        angle_deg: rotation in degrees; positive turns the content counter-clockwise on screen.
        crop_w, crop_h: crop side as a fraction of the image side (≤ 1).
        centre_x, centre_y: crop centre in normalised coordinates [-1, 1] (x right, y down).
        sigma: Gaussian blur sigma in output pixels; 0 = no blur.
    """

    angle_deg: Tensor
    crop_w: Tensor
    crop_h: Tensor
    centre_x: Tensor
    centre_y: Tensor
    sigma: Tensor


class BatchAugment(nn.Module):
    """uint8 [B,1,H,W] -> normalised float [B,3,H,W], with the paper's augmentations when training.

    Args:
        rotation_deg: angles are drawn uniformly from [-rotation_deg, rotation_deg].
        crop_scale: range of the crop area as a fraction of the image area.
        crop_ratio: range of the crop aspect ratio w/h (drawn log-uniformly; near 1 = near-square).
        blur_sigma: range of the Gaussian blur sigma in pixels.
        blur_p: probability that an image is blurred.
        mean, std: per-channel normalisation of the grey value replicated to 3 channels.
        channels_last: return a channels-last tensor (faster convolutions under bf16 on GPUs).
        seed: seed of the augmentation generators (one per device, created on first use).
    """

    def __init__(
        self,
        *,
        rotation_deg: float = 90.0,
        crop_scale: Sequence[float] = (0.9, 1.0),
        crop_ratio: Sequence[float] = (0.95, 1.05),
        blur_sigma: Sequence[float] = (0.1, 1.0),
        blur_p: float = 0.5,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        channels_last: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not (0 < crop_scale[0] <= crop_scale[1] <= 1):
            raise ValueError(f"crop_scale must satisfy 0 < lo <= hi <= 1, got {list(crop_scale)}")
        if not (0 < crop_ratio[0] <= crop_ratio[1]):
            raise ValueError(f"crop_ratio must satisfy 0 < lo <= hi, got {list(crop_ratio)}")
        if not (0 <= blur_sigma[0] <= blur_sigma[1]) or not (0 <= blur_p <= 1):
            raise ValueError(
                f"need 0 <= blur_sigma lo <= hi and 0 <= blur_p <= 1, got {blur_sigma}, {blur_p}"
            )
        self.rotation_deg = float(rotation_deg)
        self.crop_scale = (float(crop_scale[0]), float(crop_scale[1]))
        self.crop_ratio = (float(crop_ratio[0]), float(crop_ratio[1]))
        self.blur_sigma = (float(blur_sigma[0]), float(blur_sigma[1]))
        self.blur_p = float(blur_p)
        # Fold normalisation into one multiply-add: (g - mean) / std = g * (1/std) - mean/std.
        self.register_buffer(
            "_scale", torch.tensor([1.0 / s for s in std]).view(1, -1, 1, 1), persistent=False
        )
        self.register_buffer(
            "_shift",
            torch.tensor([-m / s for m, s in zip(mean, std, strict=True)]).view(1, -1, 1, 1),
            persistent=False,
        )
        self.channels_last = channels_last
        self.seed = int(seed)
        self._generators: dict[str, torch.Generator] = {}

    def reseed(self, seed: int) -> None:
        """Restart every device generator from ``seed`` (e.g. seed + rank under DDP)."""
        self.seed = int(seed)
        self._generators.clear()

    def rng_state(self) -> dict[str, Tensor]:
        """The state of every device generator drawn from so far, keyed by device (for checkpoints)."""
        return {key: g.get_state() for key, g in self._generators.items()}

    def load_rng_state(self, states: dict[str, Tensor]) -> list[str]:
        """Continue the generators from ``rng_state()``'s output; return the devices that are not here.

        A state saved on a device this machine lacks (a CUDA checkpoint resumed on CPU) is skipped: that
        device's stream restarts from ``seed`` if it is ever used.
        """
        skipped = []
        for key, state in states.items():
            device = torch.device(key)
            if device.type == "cuda" and not torch.cuda.is_available():
                skipped.append(key)
                continue
            self._generator(device).set_state(state.cpu())
        return skipped

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[key]

    def sample_params(self, batch: int, device: torch.device | str = "cpu") -> AugmentParams:
        """Draw per-image parameters for a batch of ``batch`` images (on ``device``)."""
        device = torch.device(device)
        g = self._generator(device)

        def uniform(lo: float, hi: float) -> Tensor:
            return lo + (hi - lo) * torch.rand(batch, generator=g, device=device)

        angle = uniform(-self.rotation_deg, self.rotation_deg)
        area = uniform(*self.crop_scale)
        ratio = torch.exp(uniform(math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1])))
        crop_w = torch.sqrt(area * ratio).clamp(max=1.0)
        crop_h = torch.sqrt(area / ratio).clamp(max=1.0)
        # The crop stays inside the image: its centre moves at most (1 - side) in normalised units.
        centre_x = (2 * torch.rand(batch, generator=g, device=device) - 1) * (1 - crop_w)
        centre_y = (2 * torch.rand(batch, generator=g, device=device) - 1) * (1 - crop_h)
        blurred = torch.rand(batch, generator=g, device=device) < self.blur_p
        sigma = torch.where(blurred, uniform(*self.blur_sigma), torch.zeros(batch, device=device))
        return AugmentParams(angle, crop_w, crop_h, centre_x, centre_y, sigma)

    def apply(self, grey: Tensor, params: AugmentParams) -> Tensor:
        """Rotate + crop + resize, then blur, a batch of greyscale images.

        Args:
            grey: float [B,1,H,W] in [0, 1].
            params: per-image parameters (tensors [B] on ``grey``'s device).

        Returns:
            float [B,1,H,W]. Areas rotated in from outside the image take the mean of the image's
            border ring, i.e. the background, not black.
        """
        b = grey.shape[0]
        theta_rad = params.angle_deg.to(grey.dtype) * (math.pi / 180.0)
        cos, sin = torch.cos(theta_rad), torch.sin(theta_rad)
        w, h = params.crop_w.to(grey.dtype), params.crop_h.to(grey.dtype)
        # Output (u, v) in [-1, 1]^2 samples input R(angle) @ diag(w, h) @ (u, v) + centre. With the
        # y axis pointing down the screen, sampling through R(angle) turns the content
        # counter-clockwise, the same sense as torch/numpy rot90 (tested).
        theta = torch.stack(
            [
                torch.stack([w * cos, -h * sin, params.centre_x.to(grey.dtype)], dim=1),
                torch.stack([w * sin, h * cos, params.centre_y.to(grey.dtype)], dim=1),
            ],
            dim=1,
        )
        fill = _border_mean(grey).view(b, 1, 1, 1)
        grid = F.affine_grid(theta, list(grey.shape), align_corners=False)
        out = (
            F.grid_sample(grey - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            + fill
        )
        return gaussian_blur_per_image(out, params.sigma, max_sigma=self.blur_sigma[1])

    def forward(self, images: Tensor, train: bool = False, params: AugmentParams | None = None) -> Tensor:
        """Normalise (and augment when ``train``) a batch.

        Args:
            images: uint8 [B,1,H,W] (a float input is taken as already in [0, 1]).
            train: apply the random augmentations; evaluation (False) is deterministic.
            params: fixed parameters instead of random ones (tests, visualisation).

        Returns:
            float32 [B,3,H,W], ImageNet-normalised.
        """
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(f"expected images [B,1,H,W], got {tuple(images.shape)}")
        grey = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
        if (train or params is not None) and images.shape[0] > 0:
            grey = self.apply(
                grey, params if params is not None else self.sample_params(grey.shape[0], grey.device)
            )
        out = grey * self._scale.to(grey.device) + self._shift.to(grey.device)
        if self.channels_last:
            out = out.contiguous(memory_format=torch.channels_last)
        return out


def _border_mean(x: Tensor) -> Tensor:
    """Mean of the outermost pixel ring per image: [B,1,H,W] -> [B]."""
    ring = torch.cat([x[:, :, 0, :], x[:, :, -1, :], x[:, :, 1:-1, 0], x[:, :, 1:-1, -1]], dim=-1)
    return ring.mean(dim=(1, 2))


def gaussian_blur_per_image(x: Tensor, sigma: Tensor, max_sigma: float) -> Tensor:
    """Separable Gaussian blur with a different sigma per image, as two grouped convolutions.

    Args:
        x: float [B,1,H,W].
        sigma: float [B]; 0 leaves that image unchanged (a delta kernel).
        max_sigma: the largest sigma that can occur; sets the shared kernel radius ceil(3·max_sigma).

    Returns:
        float [B,1,H,W], reflect-padded at the edges.
    """
    radius = max(1, math.ceil(3 * max_sigma))
    if bool((sigma <= 0).all()):
        return x
    b, _, h, w = x.shape
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    s = sigma.to(x.dtype).clamp(min=1e-6).view(b, 1)
    kernel = torch.exp(-0.5 * (offsets.view(1, -1) / s) ** 2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    delta = (offsets == 0).to(x.dtype).expand(b, -1)
    kernel = torch.where((sigma > 0).view(b, 1), kernel, delta)
    # Treat the batch as channels so one grouped conv blurs each image with its own kernel.
    y = x.reshape(1, b, h, w)
    pad_mode = "reflect" if min(h, w) > radius else "replicate"
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode=pad_mode), kernel.view(b, 1, -1, 1), groups=b)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode=pad_mode), kernel.view(b, 1, 1, -1), groups=b)
    return y.reshape(b, 1, h, w)
