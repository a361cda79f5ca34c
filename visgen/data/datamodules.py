"""``ForamImageDataModule``: wires folder scan, decode cache, samplers and device augmentation.

``prepare_data`` writes files only (ForamSim generation, the decode cache) and sets no state;
``setup`` reads them and assigns the splits. Bad images are found while decoding, i.e. before the
first training step, never mid-epoch.

Batches are dicts. Loaders yield ``{"image": uint8 [B,1,S,S], "label", "index"}``;
``on_after_batch_transfer`` turns the image into float [B,3,S,S] (ImageNet-normalised, augmented on
the device while training). Under DDP the training batch sampler and the evaluation
``DistributedSampler`` shard per rank here, so the Trainer runs with
``use_distributed_sampler=False`` (conf/trainer/ddp*.yaml).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from visgen.data.datasets import UInt8ImageDataset, keep_batch
from visgen.data.image_cache import DecodedImages, decode_to_cache
from visgen.data.layouts import NOVEL, DataLayout, ImageIndex, ScanRequest
from visgen.data.samplers import InstanceNegativeBatchSampler, MPerClassBatchSampler, RandomBatchSampler
from visgen.data.transforms import BatchAugment
from visgen.errors import UserInputError, raise_problems
from visgen.eval import longtail

log = logging.getLogger(__name__)

_AUGMENT_KEYS = {
    "rotation_deg",
    "crop_scale",
    "crop_ratio",
    "blur_sigma",
    "blur_p",
    "mean",
    "std",
    "channels_last",
}


class ForamImageDataModule(L.LightningDataModule):
    """Foram images from any data layout (ForamSim, species folders, ...) for metric learning.

    Args:
        layout: where the images come from (:mod:`visgen.data.layouts`; the pipeline builds it from
            ``data.source`` and the layout's own ``data.*`` keys).
        image_size: side of the decoded square images.
        batch_size: training images per batch.
        m_per_class: images per class per training batch (``sampler="m_per_class"``).
        num_workers: DataLoader worker processes.
        classes: ``"dna"`` (species with images and DNA), ``"all"`` (also image-only species: trained and
            scored, left out of alignment) or a list of species.
        dna_species: species with DNA (the FASTA's, after synonyms; the pipeline reads them); None = the
            built-in Endless Forams list.
        synonyms: ``genetics.synonyms``, applied to folder names as to FASTA headers.
        augment: ``{"train": bool}`` switches training augmentation; the other keys go to
            :class:`~visgen.data.transforms.BatchAugment` (rotation_deg, crop_scale, crop_ratio,
            blur_sigma, blur_p, channels_last).
        cache_dir: where the decode cache lives.
        device_resident: keep every decoded image on the accelerator and gather batches there
            (loaders then only carry indices; the fastest path when the data fits in device memory).
        eval_batch_size: batch size of val/test/gallery loaders (default ``batch_size``).
        sampler: ``"m_per_class"``, ``"random"`` or ``"instance_negative"`` (positives + a negative of a uniformly
            random other class each; the pipeline switches to it for ``align.sampling=instance_uniform_negative``).
        epoch_length: training images per epoch (default: the training set size).
        split_fractions, split_seed: the stratified split when the data gives none.
        on_bad_image: ``"skip"`` (counted) or ``"error"`` (one-line error before training).
        seed: seed of the sampler and of the augmentation generators.
        greyscale: images are decoded to grey and replicated to 3 channels (the only mode; the authors' protocol
            too); ``False`` is refused rather than silently ignored.
        selection: the split the validation loop (hence checkpoint selection) sees: ``"val"`` (ours) or
            ``"test"`` (the authors' released code, which has no validation split; every such row is marked).
            With ``"test"`` the monitored overall accuracy also counts ForamSim's test-floor extras.
        unseen, unseen_fold, unseen_folds, unseen_seed, shots: target species held out of training
            (:mod:`visgen.data.heldout`): the listed species, or fold ``unseen_fold`` of ``unseen_folds``
            seeded leave-species-out folds; each keeps ``shots`` training images (0 = unseen) and all its
            test images. Their other training images form the ``support`` split (k-shot support only). A layout
            whose partitions name its unseen species (``LayoutFacts.partition_roles``) sets the targets, support
            and ``novel`` split from them instead, and refuses ``unseen`` / ``unseen_fold``.
    """

    def __init__(
        self,
        layout: DataLayout,
        *,
        image_size: int = 64,
        batch_size: int = 64,
        m_per_class: int = 4,
        num_workers: int = 2,
        classes: str | Sequence[str] = "dna",
        augment: dict[str, Any] | None = None,
        cache_dir: str | Path = ".cache",
        device_resident: bool = False,
        eval_batch_size: int | None = None,
        sampler: str = "m_per_class",
        epoch_length: int | None = None,
        split_fractions: Sequence[float] = (0.7, 0.1, 0.2),
        split_seed: int = 0,
        on_bad_image: str = "skip",
        seed: int = 0,
        greyscale: bool = True,
        selection: str = "val",
        dna_species: Sequence[str] | None = None,
        synonyms: dict[str, str] | None = None,
        unseen: Sequence[str] | None = None,
        unseen_fold: int | None = None,
        unseen_folds: int = 8,
        unseen_seed: int = 0,
        shots: int = 0,
    ) -> None:
        super().__init__()
        if not greyscale:
            raise UserInputError(
                "data.greyscale=false: colour input is not implemented (images are decoded to grey, "
                "visgen/data/decode.py); use data.greyscale=true"
            )
        if selection not in ("val", "test"):
            raise UserInputError(f"selection={selection}: unknown; use val (ours) or test (the authors')")
        self.selection = selection
        if sampler not in ("m_per_class", "random", "instance_negative"):
            raise UserInputError(
                f"data.sampler={sampler!r}: use 'm_per_class', 'random' or 'instance_negative'"
            )
        augment = dict(augment or {})
        unknown = set(augment) - _AUGMENT_KEYS - {"train"}
        if unknown:
            raise UserInputError(
                f"data.augment: unknown keys {sorted(unknown)}; known: {sorted(_AUGMENT_KEYS | {'train'})}"
            )
        self.layout = layout
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.m_per_class = int(m_per_class)
        self.num_workers = int(num_workers)
        self.classes = classes
        self.augment_train = bool(augment.pop("train", True))
        self.augmenter = BatchAugment(seed=seed, **augment)
        self.cache_dir = Path(cache_dir)
        self.device_resident = bool(device_resident)
        self.sampler = sampler
        self.epoch_length = epoch_length
        self.split_fractions = tuple(split_fractions)
        self.split_seed = int(split_seed)
        self.on_bad_image = on_bad_image
        self.seed = int(seed)
        self.dna_species = None if dna_species is None else list(dna_species)
        self.synonyms = dict(synonyms or {})
        self._scan: tuple[ImageIndex | None, list[str]] | None = None  # one scan per process
        self.heldout_args = {
            "unseen": list(unseen) if unseen else None,
            "unseen_fold": unseen_fold,
            "unseen_folds": int(unseen_folds),
            "unseen_seed": int(unseen_seed),
        }
        self.shots = int(shots)
        self.targets: list[str] = []
        self._datasets: dict[str, UInt8ImageDataset] = {}
        self._resident: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ files (prepare_data)
    def scan_with_problems(self) -> tuple[ImageIndex | None, list[str]]:
        """The scanned image index and every problem found (a generator's layout generates first if needed).

        Scanned once per process, so its summary and warnings appear once per run.
        """
        if self._scan is None:
            self._scan = self.layout.scan(
                ScanRequest(
                    classes=self.classes, dna_species=self.dna_species, synonyms=self.synonyms,
                    split_fractions=self.split_fractions, split_seed=self.split_seed,
                    on_bad_image=self.on_bad_image,
                )
            )  # fmt: skip
            if self._scan[0] is not None:
                log.info(self._scan[0].summary())
        return self._scan

    def scan(self) -> ImageIndex:
        """The scanned image index; every scan problem raised at once (``visgen.errors.raise_problems``)."""
        index, problems = self.scan_with_problems()
        raise_problems(problems, self.layout.describe())
        assert index is not None
        return index

    def _decode(self) -> tuple[ImageIndex, DecodedImages]:
        index = self.scan()
        return index, decode_to_cache(index, self.image_size, self.cache_dir, on_bad_image=self.on_bad_image)

    def prepare_data(self) -> None:
        """Generate ForamSim (cached) and decode every image once into the uint8 cache (files only).

        Lightning calls this again before every ``fit``/``test``; once ``setup`` has loaded the decoded
        cache in this process the files exist, and the folder is not scanned (and logged) again.
        """
        if self._datasets:
            return
        self._decode()

    # ------------------------------------------------------------------ state (setup)
    def setup(self, stage: str | None = None) -> None:
        """Load the splits from the decode cache (building it if ``prepare_data`` did not run).

        Every ``fit`` restarts the augmentation stream from ``seed + rank``, so a stage draws the same
        augmentations whether or not another stage trained before it in this process (``make run``
        against a sweep that reuses a cached pretraining) and DDP ranks draw different ones. Lightning
        calls ``setup`` before restoring a checkpoint, so a resumed fit then continues the saved stream.
        """
        if stage in (None, "fit"):
            self.augmenter.reseed(self.seed + self._rank_world()[0])
        if self._datasets:
            return
        index, decoded = self._decode()
        ok = decoded.ok & ~self._hold_out(index)
        self.index = index
        self.class_names: list[str] = list(index.class_names)
        self.num_classes = len(self.class_names)
        self.scale = float(index.scale)
        self.skipped = {**index.skipped, **decoded.skipped}
        self._images_path = decoded.images_path
        for split in ("train", "val", "test"):
            rows = np.flatnonzero(self.image_splits == split).astype(np.int64)
            rows = rows[ok[rows]]
            self._datasets[split] = UInt8ImageDataset(
                decoded.images_path, rows, index.labels[rows], with_images=not self.device_resident
            )
            if split == "test":
                # bool [n_test] by position in the test split: ForamSim's test-floor images, which the
                # KNN callback leaves out of overall accuracy (visgen.sim.forams_sim).
                assert index.extra_test is not None
                self.extra_test = np.asarray(index.extra_test[rows], dtype=bool)
        for split, rows in (("support", self._support_rows), (NOVEL, self._novel_rows)):
            rows = rows[decoded.ok[rows]]
            self._datasets[split] = UInt8ImageDataset(
                decoded.images_path, rows, index.labels[rows], with_images=not self.device_resident
            )
        self.train_counts = longtail.class_counts(self._datasets["train"].labels.numpy(), self.num_classes)
        # Per-species scale: ForamSim's floor keeps rare species above count x scale (see species.py).
        self.class_scale = np.asarray(index.class_scale, dtype=np.float64)
        self.shot_buckets = longtail.shot_buckets(self.train_counts, self.class_scale)
        self.rare_classes = sorted(longtail.rare_classes(self.train_counts, self.class_scale))
        # Image-only species (data.classes=all): scored with the others, reported as their own group.
        self.class_groups = (
            {"no_dna": [self.class_names.index(n) for n in index.no_dna]} if index.no_dna else {}
        )
        self.dataset_info: dict[str, Any] = self.layout.dataset_info(index.root)
        self.dataset_info.update(
            heldout=self.heldout,
            root=str(index.root),
            image_size=self.image_size,
            split_sizes={s: len(self._datasets[s]) for s in ("train", "val", "test")},
            no_dna_species=list(index.no_dna),
            skipped=self.skipped,
        )
        if self.sampler == "m_per_class":
            # Fail in setup, before any training step, if batch_size/m_per_class cannot work.
            MPerClassBatchSampler(self._datasets["train"].labels.numpy(), self.m_per_class, self.batch_size)
        log.info(
            "%d rare species: %s", len(self.rare_classes), [self.class_names[c] for c in self.rare_classes]
        )

    def _hold_out(self, index: ImageIndex) -> np.ndarray:
        """Choose the target species and set ``targets``, ``heldout`` and the ``support`` split; return the drops."""
        from visgen.data.heldout import (
            anchored_species,
            check_partition_heldout,
            hold_out,
            partition_hold_out,
            resolve_targets,
            tail_counts,
        )

        roles = self.layout.facts.partition_roles
        seed = self.heldout_args["unseen_seed"]
        # str [N]: each image's split in this module (by role where the data set's partitions have roles).
        self.image_splits = index.splits
        if roles is not None:  # the data set names its unseen species: its partitions decide, not folds
            check_partition_heldout(self.heldout_args, self.layout.name, roles)
            self.targets, self.image_splits, dropped, pool = partition_hold_out(
                index.labels, index.splits, index.partitions, index.class_names, roles, self.shots, seed
            )
        else:
            anchored = anchored_species(index.class_names)
            self.targets = resolve_targets(anchored, counts=tail_counts(anchored), **self.heldout_args)
            unknown = [t for t in self.targets if t not in index.class_names]
            if unknown:
                raise UserInputError(
                    f"data.unseen={unknown}: not among the data's species; use names of data.classes"
                )
            dropped, pool = hold_out(
                index.labels, index.splits, index.class_names, self.targets, self.shots, seed
            )
        self._support_rows = pool
        self._novel_rows = np.flatnonzero(self.image_splits == NOVEL).astype(np.int64)
        self.heldout: dict[str, Any] | None = None
        if self.targets:
            per_split = {s: int((dropped & (self.image_splits == s)).sum()) for s in ("train", "val")}
            tests = {t: int(((index.labels == index.class_names.index(t)) & (self.image_splits == "test")).sum())
                     for t in self.targets}  # fmt: skip
            self.heldout = {**self.heldout_args, "targets": self.targets, "shots": self.shots,
                            "dropped": per_split, "test_images": tests}  # fmt: skip
            if roles is not None:
                novel = sorted({index.class_names[c] for c in index.labels[self._novel_rows]})
                self.heldout.update(from_partitions=roles.describe(), novel_species=novel,
                                    novel_images=len(self._novel_rows))  # fmt: skip
            log.info("held out %s (shots %d): dropped %s images; test images %s", self.targets, self.shots,
                     per_split, tests)  # fmt: skip
        return dropped

    # ------------------------------------------------------------------ loaders
    def _rank_world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return int(self.trainer.global_rank), int(self.trainer.world_size)

    def _loader(self, dataset: UInt8ImageDataset, **kwargs: Any) -> DataLoader:
        return DataLoader(
            dataset,
            num_workers=self.num_workers,
            collate_fn=keep_batch,
            pin_memory=torch.cuda.is_available() and not self.device_resident,
            persistent_workers=self.num_workers > 0,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        """Training batches (M-per-class or random), sharded per DDP rank by the batch sampler."""
        ds = self._datasets["train"]
        rank, world = self._rank_world()
        common = {"length": self.epoch_length, "seed": self.seed, "rank": rank, "world_size": world}
        if self.sampler == "m_per_class":
            batches = MPerClassBatchSampler(ds.labels.numpy(), self.m_per_class, self.batch_size, **common)
        elif self.sampler == "instance_negative":
            batches = InstanceNegativeBatchSampler(ds.labels.numpy(), self.batch_size, **common)
        else:
            batches = RandomBatchSampler(len(ds), self.batch_size, **common)
        return self._loader(ds, batch_sampler=batches)

    def _eval_loader(self, split: str) -> DataLoader:
        ds = self._datasets[split]
        rank, world = self._rank_world()
        # Padding duplicates from DistributedSampler are dropped by the KNN callback via `index`.
        sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=False) if world > 1 else None
        return self._loader(ds, batch_size=self.eval_batch_size, shuffle=False, sampler=sampler)

    def split_dataloader(self, split: str) -> DataLoader:
        """Un-augmented images of one split in order: ``train``, ``val``, ``test``, ``support`` (GZSL targets) or
        ``novel`` (a data set's species outside seen and unseen: novelty queries; empty for most data)."""
        return self._eval_loader(split)

    def gallery_dataloader(self) -> DataLoader:
        """Training images in order, without augmentation (the KNN gallery)."""
        return self._eval_loader("train")

    def val_dataloader(self) -> list[DataLoader]:
        """``[val, gallery]``; ``[test, gallery, val]`` under ``selection="test"``: checkpoints follow the test
        split, and the validation split is still scored (``val_split/*``, see ``visgen.callbacks.knn_eval``)."""
        if self.selection == "test":
            return [self._eval_loader("test"), self.gallery_dataloader(), self._eval_loader("val")]
        return [self._eval_loader("val"), self.gallery_dataloader()]

    def test_dataloader(self) -> list[DataLoader]:
        """``[test, gallery]``."""
        return [self._eval_loader("test"), self.gallery_dataloader()]

    # ------------------------------------------------------------------ device side
    def _resident_images(self, device: torch.device) -> torch.Tensor:
        """Every decoded image on ``device``, uint8 [N_all,S,S], uploaded once per device."""
        key = str(device)
        if key not in self._resident:
            self._resident[key] = torch.from_numpy(np.load(self._images_path)).to(device)
        return self._resident[key]

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """uint8 images -> normalised float [B,3,S,S], augmented when the Trainer is training."""
        if not isinstance(batch, dict):
            return batch
        batch = dict(batch)
        if "image" not in batch and "row" in batch:  # device_resident: gather the batch on device
            batch["image"] = self._resident_images(batch["row"].device)[batch.pop("row")].unsqueeze(1)
        if "image" not in batch:
            return batch
        training = bool(self.trainer is not None and self.trainer.training)
        batch["image"] = self.augmenter(batch["image"], train=training and self.augment_train)
        return batch

    def state_dict(self) -> dict[str, Any]:
        """The augmentation generators (the sampler needs nothing: its shuffles derive from (seed, epoch)).

        Under DDP every rank's state is gathered into ``augment_rng_by_rank``: Lightning calls this hook on
        every rank when it saves (its contract: ``save_checkpoint`` runs on all ranks) and rank 0 writes, so
        the checkpoint holds each rank's stream. ``augment_rng`` / ``rank`` are this rank's (older readers).
        """
        rank, world = self._rank_world()
        state = self.augmenter.rng_state()
        by_rank: list[Any] = [state]
        if world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            by_rank = [None] * world
            torch.distributed.all_gather_object(by_rank, state)
        return {"augment_rng": state, "rank": rank, "augment_rng_by_rank": by_rank}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue this rank's saved augmentation stream (a resumed fit then equals an uninterrupted one).

        A checkpoint from another world size (or from before the streams were gathered) holds no stream
        for some ranks: those keep their fresh ``seed + rank`` stream (reproducible, not bit-equal).
        """
        if "augment_rng" not in state_dict:  # a checkpoint from before the stream was saved
            log.info("checkpoint holds no augmentation state: the stream restarts from seed %d", self.seed)
            return
        rank, world = self._rank_world()
        by_rank = state_dict.get("augment_rng_by_rank")
        if by_rank is not None and len(by_rank) == world:
            state = by_rank[rank]
        elif int(state_dict.get("rank", 0)) == rank:
            state = state_dict["augment_rng"]
        else:
            log.info(
                "rank %d: the checkpoint holds no augmentation stream for this rank (saved by %d rank(s)); "
                "it restarts its own",
                rank,
                len(by_rank or [None]),
            )
            return
        skipped = self.augmenter.load_rng_state(state)
        if skipped:
            log.warning(
                "augmentation state for %s not restored (no such device here): its stream restarts", skipped
            )
