"""Decoding (pad-to-square geometry, PIL modes, bad files) and the batched device augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from visgen.data.decode import BadImageError, border_value
from visgen.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentParams,
    BatchAugment,
    gaussian_blur_per_image,
    load_square_uint8,
)


def test_pad_to_square_geometry(tmp_path: Path) -> None:
    # 64 wide x 32 high, background 10, a bright 16x16 square in the middle.
    img = np.full((32, 64), 10, np.uint8)
    img[8:24, 24:40] = 250
    Image.fromarray(img).save(tmp_path / "wide.png")
    out = load_square_uint8(tmp_path / "wide.png", 32)
    assert out.shape == (32, 32) and out.dtype == np.uint8
    # Halved to 32x16 and centred: 8 padded rows above and below hold the background value.
    assert (out[:8] == 10).all() and (out[24:] == 10).all()
    # The square becomes 8x8 at rows 12..19, cols 12..19 (bilinear edges may blend one pixel).
    assert (out[13:19, 13:19] == 250).all()
    assert (out[9:11, :] == 10).all() and (out[:, :10] == 10).all()
    # Tall image: padding goes left and right instead.
    Image.fromarray(np.ascontiguousarray(img.T)).save(tmp_path / "tall.png")
    tall = load_square_uint8(tmp_path / "tall.png", 32)
    assert np.array_equal(tall, out.T)


def test_border_value_is_the_ring_median() -> None:
    img = np.full((10, 10), 7, np.uint8)
    img[0, :4] = 255  # the shell touches one edge: the median ignores it
    assert border_value(img) == 7


@pytest.mark.parametrize(
    ("mode", "pixel", "expected"),
    [
        ("L", 123, 123),
        ("RGB", (200, 100, 50), round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)),
        ("RGBA", (200, 100, 50, 255), round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)),
        ("RGBA", (200, 100, 50, 0), 0),  # fully transparent reads as dark background
        ("I;16", 100 * 257, 100),
        ("I;16", 65535, 255),
    ],
)
def test_modes_become_grey(tmp_path: Path, mode: str, pixel: object, expected: int) -> None:
    path = tmp_path / f"img_{mode.replace(';', '')}.png"
    Image.new(mode, (6, 4), pixel).save(path)
    with Image.open(path) as check:
        assert check.mode == mode  # the file really is in that mode
    out = load_square_uint8(path, 6)
    assert abs(int(out[3, 3]) - expected) <= 1  # centre pixel; luma rounding may differ by 1


def test_bad_files_are_named_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not a picture")
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(good)
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    reasons = {}
    for name in ("zero.png", "text.png", "cut.png"):
        with pytest.raises(BadImageError) as err:
            load_square_uint8(tmp_path / name, 16)
        assert name in str(err.value)
        reasons[name] = err.value.reason
    assert reasons == {
        "zero.png": "zero-byte file",
        "text.png": "not an image",
        "cut.png": "truncated or corrupt image",
    }


def _identity(b: int) -> AugmentParams:
    z = torch.zeros(b)
    return AugmentParams(angle_deg=z, crop_w=z + 1, crop_h=z + 1, centre_x=z, centre_y=z, sigma=z)


def _expected_eval(images: torch.Tensor) -> torch.Tensor:
    grey = images.float() / 255
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (grey.expand(-1, 3, -1, -1) - mean) / std


def test_eval_path_is_plain_normalisation() -> None:
    images = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    aug = BatchAugment(seed=0)
    out = aug(images, train=False)
    assert out.shape == (4, 3, 16, 16) and out.dtype == torch.float32
    torch.testing.assert_close(out, _expected_eval(images))
    torch.testing.assert_close(aug(images, train=False), out)  # deterministic
    # Identity parameters through the augmentation path give the same result.
    torch.testing.assert_close(aug(images, params=_identity(4)), out, atol=1e-5, rtol=0)


def test_train_path_shape_range_and_seed() -> None:
    images = torch.randint(0, 256, (8, 1, 24, 24), dtype=torch.uint8)
    out = BatchAugment(seed=3, channels_last=True)(images, train=True)
    assert out.shape == (8, 3, 24, 24) and out.dtype == torch.float32
    assert out.is_contiguous(memory_format=torch.channels_last)
    lo = (0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    hi = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    # Bilinear sampling and blurring are convex combinations: values stay in the normalised [0, 1].
    assert (out >= lo.view(1, 3, 1, 1) - 1e-5).all() and (out <= hi.view(1, 3, 1, 1) + 1e-5).all()
    again = BatchAugment(seed=3)(images, train=True)
    torch.testing.assert_close(again, out.contiguous())
    other = BatchAugment(seed=4)(images, train=True)
    assert not torch.allclose(other, out)
    assert not torch.allclose(out, _expected_eval(images))


def test_rng_state_round_trip_continues_the_stream() -> None:
    images = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    aug = BatchAugment(seed=5)
    aug(images, train=True)
    saved = aug.rng_state()
    expected = aug(images, train=True)
    restored = BatchAugment(seed=99)  # another seed: only the loaded state decides the next draw
    assert restored.load_rng_state(saved) == []
    torch.testing.assert_close(restored(images, train=True), expected, atol=0, rtol=0)
    aug.reseed(5)  # reseed restarts the stream: the first draw again, not the second
    assert not torch.equal(aug(images, train=True), expected)


def test_rng_state_of_a_missing_device_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    state = BatchAugment(seed=0).rng_state() | {"cuda:0": torch.zeros(16, dtype=torch.uint8)}
    assert BatchAugment(seed=0).load_rng_state(state) == ["cuda:0"]


def test_sampled_parameters_respect_the_config() -> None:
    aug = BatchAugment(
        rotation_deg=30, crop_scale=(0.9, 1.0), crop_ratio=(0.95, 1.05), blur_sigma=(0.1, 1.0), blur_p=0.5
    )
    p = aug.sample_params(4000)
    assert p.angle_deg.abs().max() <= 30 and p.angle_deg.min() < -25 and p.angle_deg.max() > 25
    area = p.crop_w * p.crop_h
    assert area.min() >= 0.9 - 1e-5 and area.max() <= 1.0 + 1e-6
    ratio = p.crop_w / p.crop_h
    assert ratio.min() >= 0.95 - 1e-5 and ratio.max() <= 1.05 + 1e-5
    assert ((p.centre_x.abs() <= 1 - p.crop_w + 1e-6) & (p.centre_y.abs() <= 1 - p.crop_h + 1e-6)).all()
    blurred = p.sigma > 0
    assert 0.45 < blurred.float().mean() < 0.55
    assert p.sigma[blurred].min() >= 0.1 and p.sigma.max() <= 1.0


@pytest.mark.parametrize(("angle", "k"), [(90.0, 1), (-90.0, -1), (180.0, 2)])
def test_forced_rotation_matches_rot90(angle: float, k: int) -> None:
    # An asymmetric "L" pattern, so every rotation is distinguishable.
    pattern = torch.zeros(1, 1, 8, 8)
    pattern[0, 0, 1:7, 1] = 1.0
    pattern[0, 0, 6, 1:5] = 1.0
    params = _identity(1)
    params.angle_deg = torch.tensor([angle])
    out = BatchAugment().apply(pattern, params)
    # Positive angle = counter-clockwise on screen = numpy/torch rot90 with k > 0 over (rows, cols).
    torch.testing.assert_close(out, torch.rot90(pattern, k, dims=(2, 3)), atol=1e-5, rtol=0)


def test_rotation_fills_with_the_background_not_black() -> None:
    images = torch.full((1, 1, 16, 16), 0.6)
    params = _identity(1)
    params.angle_deg = torch.tensor([45.0])
    out = BatchAugment().apply(images, params)
    torch.testing.assert_close(out, images, atol=1e-5, rtol=0)


def test_blur_matches_a_loop_written_gaussian() -> None:
    x = torch.zeros(2, 1, 11, 11)
    x[:, 0, 5, 5] = 1.0
    sigma = torch.tensor([0.8, 0.0])
    out = gaussian_blur_per_image(x, sigma, max_sigma=1.0)
    # Oracle: the normalised 2-D Gaussian, written point by point (radius ceil(3 * max_sigma) = 3).
    ref = torch.zeros(11, 11)
    for i in range(11):
        for j in range(11):
            if abs(i - 5) <= 3 and abs(j - 5) <= 3:
                ref[i, j] = np.exp(-((i - 5) ** 2 + (j - 5) ** 2) / (2 * 0.8**2))
    ref /= ref.sum()
    torch.testing.assert_close(out[0, 0], ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1], x[1])  # sigma 0 = untouched


def test_bad_config_and_input_shape() -> None:
    with pytest.raises(ValueError, match="crop_scale"):
        BatchAugment(crop_scale=(0.5, 1.2))
    with pytest.raises(ValueError, match=r"\[B,1,H,W\]"):
        BatchAugment()(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_augment_matches_cpu_for_the_same_parameters() -> None:
    images = torch.randint(0, 256, (16, 1, 64, 64), dtype=torch.uint8)
    aug = BatchAugment(seed=0)
    params = aug.sample_params(16)
    cpu = aug(images, params=params)
    moved = AugmentParams(**{k: v.cuda() for k, v in vars(params).items()})
    gpu = aug(images.cuda(), params=moved)
    torch.testing.assert_close(gpu.cpu(), cpu, atol=2e-4, rtol=0)
    out = aug(images.cuda(), train=True)  # the device generator path
    assert out.device.type == "cuda" and out.shape == (16, 3, 64, 64)
