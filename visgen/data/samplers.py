"""Batch samplers that yield lists of dataset positions (one list = one batch).

Triplet mining needs positives in every batch, so :class:`MPerClassBatchSampler` builds each batch
from ``batch_size / m`` distinct classes with ``m`` images each. Classes are visited in reshuffled
rounds, so every class — rare ones included — appears about equally often: class-balanced sampling,
which is also what long-tail recognition wants. :class:`RandomBatchSampler` is the plain
alternative. Both are deterministic given (seed, epoch) and split their batches across DDP ranks
themselves (so the Trainer runs with ``use_distributed_sampler=False``: Lightning cannot inject a
DistributedSampler into a custom batch sampler), and both expose ``set_epoch`` which Lightning calls every epoch.

Pure numpy; they return Python lists of ints, which ``Dataset.__getitems__`` turns into one
fancy index.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from visgen.errors import UserInputError


class _EpochSampler:
    """Shared seed/epoch/rank bookkeeping."""

    def __init__(self, *, batch_size: int, length: int, seed: int, rank: int, world_size: int) -> None:
        if batch_size < 1:
            raise UserInputError(f"data.batch_size={batch_size}: must be >= 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of size {world_size}")
        self.batch_size = batch_size
        # Every rank draws the same global sequence and keeps every world_size-th batch, so the
        # ranks see disjoint batches and the same number of steps.
        self.num_batches = (length // batch_size) // world_size
        if self.num_batches < 1:
            raise UserInputError(
                f"data epoch length {length} gives no full batch of {batch_size} per rank "
                f"(world size {world_size}); lower data.batch_size or raise data.epoch_length"
            )
        self.drop_last = True  # Lightning inspects this attribute on batch samplers
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle of ``epoch`` (called by Lightning at the start of every epoch)."""
        self.epoch = int(epoch)

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch])

    def __len__(self) -> int:
        return self.num_batches


class MPerClassBatchSampler(_EpochSampler):
    """Batches of ``batch_size / m`` distinct classes with ``m`` images each.

    Args:
        labels: class per dataset position, int [N].
        m: images per class per batch; classes with fewer than ``m`` images are drawn with
            replacement (a 3-image species still gives m samples, augmented differently on device).
        batch_size: images per batch, a multiple of ``m``.
        length: images per epoch over all ranks (default N); the epoch has
            ``length // batch_size // world_size`` batches per rank.
        seed: base seed; the shuffle of epoch e is seeded by (seed, e).
        rank, world_size: this process's DDP rank and the number of ranks.

    Raises:
        UserInputError: ``batch_size`` not a multiple of ``m``, or more classes per batch than exist.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        m: int,
        batch_size: int,
        *,
        length: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if m < 1 or batch_size % m:
            raise UserInputError(f"data.batch_size={batch_size} must be a multiple of data.m_per_class={m}")
        self.classes = np.unique(labels)
        self.classes_per_batch = batch_size // m
        if self.classes_per_batch > len(self.classes):
            raise UserInputError(
                f"data.batch_size={batch_size} with data.m_per_class={m} needs {self.classes_per_batch} classes "
                f"per batch but the training set has {len(self.classes)}; raise m_per_class to "
                f"{-(-batch_size // len(self.classes))} or lower batch_size"
            )
        super().__init__(
            batch_size=batch_size,
            length=len(labels) if length is None else int(length),
            seed=seed,
            rank=rank,
            world_size=world_size,
        )
        self.m = m
        order = np.argsort(labels, kind="stable")
        bounds = [*np.searchsorted(labels[order], self.classes, side="left").tolist(), len(labels)]
        self.members = [order[bounds[i] : bounds[i + 1]] for i in range(len(self.classes))]

    def _class_stream(self, rng: np.random.Generator, n_batches: int) -> np.ndarray:
        """Class slots for ``n_batches`` batches [n_batches, classes_per_batch], no repeat in a row.

        Rounds of shuffled class lists are cut into consecutive batches; a batch that straddles two
        rounds could repeat a class, so such collisions are swapped out of the batch.
        """
        k, c = self.classes_per_batch, len(self.classes)
        need = n_batches * k
        stream = np.concatenate([rng.permutation(c) for _ in range(-(-need // c) + 1)])
        rows = []
        pos = 0
        for _ in range(n_batches):
            row: list[int] = []
            seen: set[int] = set()
            deferred: list[int] = []
            while len(row) < k:
                cls = int(stream[pos])
                pos += 1
                if cls in seen:
                    deferred.append(cls)
                else:
                    seen.add(cls)
                    row.append(cls)
            # Deferred duplicates go to the front of the rest of the stream: no class loses its turn.
            if deferred:
                pos -= len(deferred)
                stream[pos : pos + len(deferred)] = deferred
            rows.append(row)
        return np.asarray(rows, dtype=np.int64)

    def __iter__(self) -> Iterator[list[int]]:
        rng = self._rng()
        total = self.num_batches * self.world_size
        slots = self._class_stream(rng, total)
        for b in range(total):
            batch: list[np.ndarray] = []
            for cls in slots[b]:
                pool = self.members[cls]
                batch.append(rng.choice(pool, size=self.m, replace=len(pool) < self.m))
            if b % self.world_size == self.rank:  # draw for every rank so the RNG stream is shared
                yield np.concatenate(batch).tolist()


class RandomBatchSampler(_EpochSampler):
    """Uniformly shuffled batches without replacement (drop-last), seeded per epoch.

    Args:
        n: dataset size.
        batch_size: images per batch.
        length: images per epoch over all ranks (default n; more than n repeats reshuffled passes).
        seed, rank, world_size: as in :class:`MPerClassBatchSampler`.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        length: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            length=n if length is None else int(length),
            seed=seed,
            rank=rank,
            world_size=world_size,
        )
        self.n = n

    def __iter__(self) -> Iterator[list[int]]:
        rng = self._rng()
        total = self.num_batches * self.world_size * self.batch_size
        order = np.concatenate([rng.permutation(self.n) for _ in range(-(-total // self.n))])[:total]
        batches = order.reshape(-1, self.batch_size)
        for b in range(self.rank, len(batches), self.world_size):
            yield batches[b].tolist()


def other_classes(positions: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """For each class position y, a position drawn uniformly from the ``num_classes - 1`` others.

    Draws r uniformly from 0..C−2 and skips over y (r ≥ y → r + 1): a bijection between the C−1 values of
    r and the other classes, so each other class has probability exactly 1/(C−1).

    Args:
        positions: int [B], values in 0..C−1.
        num_classes: C >= 2.
        rng: the generator to draw from.

    Returns:
        int [B], never equal to ``positions`` element-wise.
    """
    if num_classes < 2:
        raise UserInputError(f"a negative from another class needs >= 2 classes, got {num_classes}")
    positions = np.asarray(positions, dtype=np.int64)
    r = rng.integers(0, num_classes - 1, size=positions.shape)
    return r + (r >= positions)


class InstanceNegativeBatchSampler(_EpochSampler):
    """The authors' alignment batches: single instances, each paired with a negative of a random other class.

    Every training image is a positive once per epoch (shuffled, so batches follow the long tail instead of
    being class-balanced like :class:`MPerClassBatchSampler`); each positive i gets a negative image drawn by
    first picking a class uniformly among the classes other than y_i, then an image of that class uniformly.
    A batch is ``pairs`` positives followed by their ``pairs`` negatives (list position j and j + pairs).

    Args:
        labels: class per dataset position, int [N] (at least 2 distinct classes).
        batch_size: images per batch, even: ``batch_size / 2`` pairs.
        length: positives per epoch over all ranks (default N).
        seed, rank, world_size: as in :class:`MPerClassBatchSampler`.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        length: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if batch_size < 2 or batch_size % 2:
            raise UserInputError(
                f"data.batch_size={batch_size}: align.sampling=instance_uniform_negative needs an even batch "
                "size (half positives, half their negatives)"
            )
        self.classes = np.unique(labels)
        if len(self.classes) < 2:
            raise UserInputError("align.sampling=instance_uniform_negative needs >= 2 training classes")
        super().__init__(
            batch_size=batch_size // 2,
            length=len(labels) if length is None else int(length),
            seed=seed,
            rank=rank,
            world_size=world_size,
        )
        self.pairs = batch_size // 2
        self.labels = labels
        self.n = len(labels)
        self.position = np.searchsorted(self.classes, labels)  # class position of each image
        order = np.argsort(labels, kind="stable")
        self.members = order  # images grouped by class position
        self.start = np.searchsorted(labels[order], self.classes, side="left")
        self.count = np.bincount(self.position, minlength=len(self.classes))

    def negatives(self, positives: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Negative images [B] for positive images [B] (dataset positions), drawn as the class docstring says."""
        cls = other_classes(self.position[positives], len(self.classes), rng)
        offset = (rng.random(len(positives)) * self.count[cls]).astype(np.int64)
        return self.members[self.start[cls] + np.minimum(offset, self.count[cls] - 1)]

    def __iter__(self) -> Iterator[list[int]]:
        rng = self._rng()
        total = self.num_batches * self.world_size * self.pairs
        order = np.concatenate([rng.permutation(self.n) for _ in range(-(-total // self.n))])[:total]
        for b, positives in enumerate(order.reshape(-1, self.pairs)):
            negatives = self.negatives(positives, rng)  # drawn for every rank: one shared RNG stream
            if b % self.world_size == self.rank:
                yield np.concatenate([positives, negatives]).tolist()
