"""The decode cache: contents equal a direct decode, reuse, invalidation, bad-image policy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visgen.data import image_cache
from visgen.data.layouts.folder import scan_image_folder
from visgen.data.transforms import load_square_uint8
from visgen.errors import UserInputError


def test_cache_rows_equal_a_direct_decode(tiny_image_folder: Path, tmp_path: Path) -> None:
    index = scan_image_folder(tiny_image_folder)
    done = image_cache.decode_to_cache(index, 16, tmp_path / "cache")
    images = done.load()
    assert images.shape == (37, 16, 16) and images.dtype == np.uint8 and done.ok.all()
    for i in (0, 17, 36):
        assert np.array_equal(images[i], load_square_uint8(tiny_image_folder / index.paths[i], 16))


def test_process_pool_gives_the_same_bytes(tiny_image_folder: Path, tmp_path: Path, monkeypatch) -> None:
    index = scan_image_folder(tiny_image_folder)
    inline = np.array(image_cache.decode_to_cache(index, 16, tmp_path / "a").load())
    monkeypatch.setattr(image_cache, "_POOL_MIN_IMAGES", 0)
    monkeypatch.setattr(image_cache, "_CHUNK", 5)
    pooled = np.array(image_cache.decode_to_cache(index, 16, tmp_path / "b", workers=2).load())
    assert np.array_equal(inline, pooled)


def test_cache_is_reused_and_invalidated(tiny_image_folder: Path, tmp_path: Path, monkeypatch) -> None:
    index = scan_image_folder(tiny_image_folder)
    first = image_cache.decode_to_cache(index, 16, tmp_path)
    calls = []
    monkeypatch.setattr(image_cache, "_decode_chunk", lambda *a: calls.append(a))
    assert (
        image_cache.decode_to_cache(scan_image_folder(tiny_image_folder), 16, tmp_path).folder == first.folder
    )
    assert calls == []  # nothing decoded again
    # Touching one file (new mtime) or changing the size gives a new key.
    path = tiny_image_folder / index.paths[0]
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert image_cache.cache_key(scan_image_folder(tiny_image_folder), 16) != first.folder.name
    assert image_cache.cache_key(index, 24) != image_cache.cache_key(index, 16)


def test_bad_images_skip_or_error(tiny_image_folder: Path, tmp_path: Path) -> None:
    folder = tiny_image_folder / "Globigerinoides_ruber"
    (folder / "zero.png").write_bytes(b"")
    (folder / "text.png").write_text("hello")
    good = (folder / "Globigerinoides_ruber_00000.png").read_bytes()
    (folder / "cut.png").write_bytes(good[: len(good) // 2])
    Image.new("I;16", (40, 20), 257 * 90).save(folder / "deep.png")  # a valid 16-bit image
    index = scan_image_folder(tiny_image_folder)
    with pytest.raises(
        UserInputError, match=r"cut\.png: truncated or corrupt image.*data\.on_bad_image=skip"
    ):
        image_cache.decode_to_cache(index, 16, tmp_path / "strict", on_bad_image="error")
    assert not (tmp_path / "strict" / "decoded" / image_cache.cache_key(index, 16)).exists()
    done = image_cache.decode_to_cache(index, 16, tmp_path / "lenient", on_bad_image="skip")
    bad = {index.paths[i].split("/")[-1] for i in np.flatnonzero(~done.ok)}
    assert bad == {"zero.png", "text.png", "cut.png"}
    assert done.skipped == {"zero-byte file": 1, "not an image": 1, "truncated or corrupt image": 1}
    deep = index.paths.index("Globigerinoides_ruber/deep.png")
    assert done.ok[deep] and done.load()[deep][8, 8] == 90
    # A cache built leniently still refuses under the strict policy.
    with pytest.raises(UserInputError, match="on_bad_image=skip"):
        image_cache.decode_to_cache(index, 16, tmp_path / "lenient", on_bad_image="error")
