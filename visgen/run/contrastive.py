"""The contrastive alignment's objects from the config: sequences of the image classes, DNA tower, loss, module."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from visgen.run.anchors import genetics_options

log = logging.getLogger(__name__)


def class_sequences(cfg: DictConfig, class_names: list[str]) -> tuple[list[str], list[list[int]]]:
    """The 18S sequences of the image classes and, per class, the indices of its own among them.

    Read with the same reader and options as the anchors of the cosine alignment (``load_genetic_anchors``), so
    every objective sees the same records of the same species; no encoder runs, and only these classes'
    sequences are held.
    """
    from visgen.genetics.dataset import species_sequences

    fasta, genetics = genetics_options(cfg)
    records, usable = species_sequences(fasta, class_names, **genetics)
    index = {name: c for c, name in enumerate(class_names)}
    log.info(
        "DNA tower: %d of %d sequences belong to the %d image classes (%d of other species unused)",
        len(records), usable, len(class_names), usable - len(records),
    )  # fmt: skip
    class_rows: list[list[int]] = [[] for _ in class_names]
    for row, record in enumerate(records):
        class_rows[index[record.species]].append(row)
    return [r.sequence for r in records], class_rows


def contrastive_module(cfg: DictConfig, net: Any, class_names: list[str]) -> Any:
    """A ``ContrastiveAlignModule`` for ``net`` over the 18S sequences of ``class_names``."""
    from visgen.lit.contrastive import ContrastiveAlignModule
    from visgen.losses.contrastive import ContrastiveLoss
    from visgen.models.dna_tower import DnaTower, KmerBank

    sequences, class_rows = class_sequences(cfg, class_names)
    options = cfg.align.contrastive
    return ContrastiveAlignModule(
        net=net,
        tower=DnaTower(k=int(options.kmer), embedding_dim=net.embedding_dim, hidden=int(options.hidden)),
        bank=KmerBank(sequences, k=int(options.kmer)),
        class_rows=class_rows,
        loss=ContrastiveLoss(init_temperature=float(options.temperature), gather=bool(options.gather)),
        freeze_trunk=bool(cfg.align.freeze_trunk),
        optimizer=instantiate(cfg.align.optimizer),
        scheduler=instantiate(cfg.align.scheduler) if cfg.align.scheduler is not None else None,
    )


def gzsl_tower_anchors(
    cfg: DictConfig, features: np.ndarray, labels: np.ndarray, class_names: list[str], seed: int
) -> np.ndarray:
    """The GZSL ladder's ``tower`` anchors [C, E]: a tower fitted on the seen species' cached features.

    E is the image embedding's size (``model.net.embedding_dim``), like the SGT anchors it sits beside.
    """
    from visgen.eval.tower_fit import fit_tower_anchors
    from visgen.models.dna_tower import KmerBank

    sequences, class_rows = class_sequences(cfg, class_names)
    options, tower = cfg.align.contrastive, cfg.gzsl.tower
    return fit_tower_anchors(
        features, labels, KmerBank(sequences, k=int(options.kmer)), class_rows,
        kmer=int(options.kmer), embedding_dim=int(cfg.model.net.embedding_dim), hidden=int(options.hidden),
        temperature=float(options.temperature), steps=int(tower.steps), lr=float(tower.lr),
        per_class=int(tower.per_class), seed=seed,
    )  # fmt: skip
