"""Shared test fixtures.

``tiny_image_folder`` writes a miniature Endless-Forams-style dataset (one folder per species, 32-px
greyscale PNGs, long-tailed counts) that every image-side test can reuse.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

# `make test` runs pytest in worker processes sharing the cores (pytest -n): one OpenMP thread each, set before
# torch is imported here or in the processes the tests start. Two workers with two OpenMP threads each spin
# against each other on a 2-core machine (Makefile: a GZSL job ran 6x slower that way).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from PIL import Image

#: Species (all with DNA) -> image count; long-tailed down to a 2-image species.
TINY_COUNTS: dict[str, int] = {
    "Globigerinoides_ruber": 12,
    "Globigerina_bulloides": 9,
    "Orbulina_universa": 6,
    "Globorotalia_menardii": 5,
    "Hastigerina_pelagica": 3,
    "Tenuitella_iota": 2,
}


def write_tiny_image_folder(
    root: Path, counts: Mapping[str, int] = TINY_COUNTS, size: int = 32, seed: int = 0
) -> Path:
    """Write ``root/<species>/<species>_<i>.png``: a bright disc on a dark noisy background.

    Each species has its own disc radius, so the images are learnable; each image has its own
    noise and disc offset, so no two files are identical.

    Returns:
        ``root``.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for s, (species, n) in enumerate(counts.items()):
        folder = root / species
        folder.mkdir(parents=True, exist_ok=True)
        radius = 3 + 2 * s
        for i in range(n):
            cy, cx = size / 2 + rng.uniform(-2, 2, size=2)
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
            img = rng.integers(0, 30, size=(size, size)).astype(np.uint8)
            img[disc] = 200 + rng.integers(0, 40)
            Image.fromarray(img).save(folder / f"{species}_{i:05d}.png")
    return root


@pytest.fixture
def tiny_image_folder(tmp_path: Path) -> Path:
    """A 6-species, 37-image folder-per-species dataset of 32-px greyscale PNGs (see TINY_COUNTS)."""
    return write_tiny_image_folder(tmp_path / "tiny_forams")


@pytest.fixture
def tiny_counts() -> dict[str, int]:
    """Species -> number of images written by ``tiny_image_folder``."""
    return dict(TINY_COUNTS)


@pytest.fixture
def fork_safe_threads() -> Iterator[None]:
    """One intra-op thread while a test forks DDP ranks (``strategy="ddp_fork"``).

    Forked ranks skip the ~4 s of imports each ``ddp_spawn`` rank pays (the two DDP tests: 46 s -> 2 s under
    ``make test``), but GNU OpenMP is not fork-safe: a parent that ran parallel regions with two threads left
    the forked ranks hanging at their first one (measured: 5 min timeout). One thread forks cleanly.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
