"""Decode one image file to a square greyscale uint8 array (pad-to-square + resize).

Pure Pillow + numpy, no torch, so that the decode-cache worker processes start fast. Re-exported by
:mod:`visgen.data.transforms`, which holds the GPU side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

#: Bump when the decoded pixels change (invalidates every decode cache).
DECODER_VERSION = 1


class BadImageError(ValueError):
    """An image file that cannot be decoded; ``reason`` is a short category for skip counts."""

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))


def to_grey_array(img: Image.Image) -> np.ndarray:
    """Convert a decoded PIL image to greyscale uint8 [H, W].

    Modes: L as is; RGB/P/CMYK via ITU-R 601 luma (Pillow's ``convert("L")``); RGBA/LA/PA are first
    composited over black, so transparent areas read as the dark microscope background instead of
    whatever colour the transparent pixels happen to hold; 16/32-bit integer modes (I;16, I;16B, I)
    are mapped linearly by ``v / 257`` (65535 -> 255), which keeps brightness comparable across files
    rather than stretching each image's own range; float mode F is taken as 0–255 and clipped.
    """
    mode = img.mode
    if mode == "L":
        return np.asarray(img, dtype=np.uint8)
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img).astype(np.float64)
        return np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
    if mode == "F":
        return np.clip(np.rint(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return np.asarray(Image.alpha_composite(black, rgba).convert("L"), dtype=np.uint8)
    return np.asarray(img.convert("L"), dtype=np.uint8)


def border_value(grey: np.ndarray) -> int:
    """The background value: median of the outermost ring of pixels of a [H, W] uint8 image.

    Microscope images of forams are a shell on a near-uniform background that reaches every edge,
    so the border median is a robust background estimate even when the shell touches one edge.
    """
    ring = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    return int(np.median(ring))


def square_resize(grey: np.ndarray, size: int) -> np.ndarray:
    """Pad [H, W] uint8 to a centred square with the border value and resize to [size, size].

    The long side is resized to ``size`` first and then the short side is padded (cheaper than
    padding the full-resolution image, same geometry up to rounding of the pad).
    """
    h, w = grey.shape
    side = max(h, w)
    new_w, new_h = max(1, round(w * size / side)), max(1, round(h * size / side))
    img = Image.fromarray(np.ascontiguousarray(grey))  # 2-D uint8 -> mode L
    if (new_w, new_h) != (w, h):
        # Pillow's bilinear filter widens its support when downscaling, i.e. it antialiases.
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    out = np.full((size, size), border_value(grey), dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = np.asarray(img, dtype=np.uint8)
    return out


def load_square_uint8(path: str | Path, size: int) -> np.ndarray:
    """Decode an image file to a square greyscale array.

    Args:
        path: image file (PNG, JPEG, TIFF, BMP; modes L, RGB, RGBA, P, I;16, I, F).
        size: output side in pixels.

    Returns:
        uint8 array [size, size].

    Raises:
        BadImageError: zero-byte, not an image, truncated or otherwise undecodable file
            (``reason`` is one of "zero-byte file", "not an image", "truncated or corrupt image").
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise BadImageError(path, "zero-byte file")
        with Image.open(path) as img:
            img.load()  # force the full decode here so truncation is found now, not mid-epoch
            grey = to_grey_array(img)
    except UnidentifiedImageError as err:
        raise BadImageError(path, "not an image", str(err)) from err
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        if isinstance(err, BadImageError):
            raise
        raise BadImageError(path, "truncated or corrupt image", str(err)) from err
    if grey.ndim != 2 or min(grey.shape) < 1:
        raise BadImageError(path, "truncated or corrupt image", f"decoded shape {grey.shape}")
    return square_resize(grey, size)
