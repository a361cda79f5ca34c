"""The torch Dataset over a decode cache: a whole batch is one fancy index into a uint8 memmap."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


class UInt8ImageDataset(Dataset):
    """Images of one split, served as uint8 batches.

    ``__getitems__`` (used by ``DataLoader`` for every batch when present) fancy-indexes the
    memory-mapped array once per batch, so there is no per-item Python work and no collation.

    Args:
        images_path: decode-cache ``images.npy`` (uint8 [N_all, S, S]).
        rows: int [n] rows of this split in that array.
        labels: int [n] class per image.
        with_images: False returns ``row`` (int64 [B], rows of the array) instead of ``image``, for
            a data module that keeps every image on the device and gathers there.
    """

    def __init__(
        self, images_path: str | Path, rows: np.ndarray, labels: np.ndarray, *, with_images: bool = True
    ) -> None:
        self.images_path = str(images_path)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if len(self.rows) != len(self.labels):
            raise ValueError(f"rows ({len(self.rows)}) and labels ({len(self.labels)}) differ in length")
        self.with_images = with_images
        self._array: np.ndarray | None = None

    @property
    def array(self) -> np.ndarray:
        """The memmap, opened lazily in each process (a pickled memmap would copy its data)."""
        if self._array is None:
            self._array = np.load(self.images_path, mmap_mode="r")
        return self._array

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_array"] = None
        return state

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """A batch: ``{"image": uint8 [B,1,S,S], "label": int64 [B], "index": int64 [B]}``.

        ``index`` is the position within this split (unique), which lets the KNN callback drop the
        duplicates that a DistributedSampler pads with.
        """
        idx = np.asarray(indices, dtype=np.int64)
        rows = self.rows[idx]
        index = torch.from_numpy(idx)
        if not self.with_images:
            return {"row": torch.from_numpy(rows), "label": self.labels[index], "index": index}
        # Sorted reads are friendlier to the page cache; undo the permutation afterwards.
        order = np.argsort(rows, kind="stable")
        block = np.empty((len(idx), *self.array.shape[1:]), dtype=np.uint8)
        block[order] = self.array[rows[order]]
        return {"image": torch.from_numpy(block).unsqueeze(1), "label": self.labels[index], "index": index}

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        """One image as a batch of one, squeezed: ``image`` uint8 [1,S,S], scalar label/index."""
        batch = self.__getitems__([int(i)])
        return {k: v[0] for k, v in batch.items()}


def keep_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Collate function for datasets whose ``__getitems__`` already returns a batch."""
    return batch
