"""Train/val/test splits: read from a manifest CSV, or a seeded stratified split per species.

Pure numpy; used by :mod:`visgen.images.folder`.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from visgen.errors import UserInputError

SPLITS = ("train", "val", "test")


def read_manifest(path: Path) -> tuple[dict[str, str], set[str]]:
    """Read a manifest CSV with at least the columns ``path`` and ``split``.

    An optional ``extra_test`` column (``1``/``0``; ForamSim's test floor) marks test images beyond
    the long-tailed count, which overall accuracy leaves out (see :mod:`visgen.images.forams_sim`).

    Returns:
        (relative image path -> split, the paths marked ``extra_test = 1``).
    """
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"path", "split"} <= set(reader.fieldnames):
                raise UserInputError(f"{path}: manifest needs the columns 'path' and 'split'; add them")
            out: dict[str, str] = {}
            extra: set[str] = set()
            for line, row in enumerate(reader, start=2):
                split = (row["split"] or "").strip()
                if split not in SPLITS:
                    raise UserInputError(
                        f"{path}:{line}: split {split!r} is not one of {SPLITS}; fix the row"
                    )
                rel = Path(row["path"].strip()).as_posix()
                flag = (row.get("extra_test") or "0").strip()
                if flag not in ("0", "1") or (flag == "1" and split != "test"):
                    raise UserInputError(
                        f"{path}:{line}: extra_test {flag!r} with split {split!r}; use 0, or 1 on a test row"
                    )
                out[rel] = split
                if flag == "1":
                    extra.add(rel)
    except OSError as err:
        raise UserInputError(f"{path}: cannot read the manifest ({err.strerror}); check the path") from err
    return out, extra


def stratified_split(
    labels: np.ndarray,
    class_names: Sequence[str],
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
) -> np.ndarray:
    """Seeded per-species train/val/test split that keeps every species in every split when it can.

    A species with n ≥ 3 images gets ``max(1, round(f_val·n))`` val and ``max(1, round(f_test·n))``
    test images and at least one training image; n = 2 gives one train and one test image; n = 1 is
    train only. Each species is shuffled by its own generator (seeded by ``seed`` and a hash of its
    name), so adding or removing a species does not change the others' splits.

    Args:
        labels: int [N] class index per image.
        class_names: species per class index.
        fractions: (train, val, test) fractions, summing to 1.
        seed: split seed.

    Returns:
        str array [N] of ``"train"|"val"|"test"``.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise UserInputError(
            f"data.split_fractions={list(fractions)}: give three non-negative fractions summing to 1"
        )
    splits = np.full(len(labels), "train", dtype="<U5")
    for c, name in enumerate(class_names):
        members = np.flatnonzero(labels == c)
        n = len(members)
        if n < 2:
            continue
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        members = members[rng.permutation(n)]
        if n == 2:
            n_val, n_test = 0, 1
        else:
            n_val = max(1, round(fractions[1] * n)) if fractions[1] > 0 else 0
            n_test = max(1, round(fractions[2] * n)) if fractions[2] > 0 else 0
            while n - n_val - n_test < 1:  # tiny species: never take the last training image
                if n_test >= n_val and n_test > 1:
                    n_test -= 1
                else:
                    n_val -= 1
        splits[members[:n_val]] = "val"
        splits[members[n_val : n_val + n_test]] = "test"
    return splits
