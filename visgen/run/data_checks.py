"""Data checks that run after the folder scan and before anything is decoded, built or trained.

``check_config`` (``visgen.run.checks``) catches a bad value in a second; these checks need the scanned data:
the species and DNA join, split sizes against the sampler and the KNN, the split's own sanity. Every
problem found here joins the scan's problems in ONE message (``visgen.errors.raise_problems``), so a user
fixes their data in one round instead of one run per problem, and no run stops after training started
for a reason that was knowable before (a run once lost 3.5 minutes of training to ``no DNA for image species``,
which the scan already knew).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visgen.data.layouts import ImageIndex, PartitionRoles
from visgen.errors import raise_problems

log = logging.getLogger(__name__)


def _world_size(trainer: Mapping[str, Any]) -> int:
    """Ranks of the configured trainer (devices x nodes; "auto"/-1 count as one here, a lower bound)."""
    devices = trainer.get("devices", 1)
    if isinstance(devices, Sequence) and not isinstance(devices, str):
        n = len(devices)
    else:
        n = int(devices) if str(devices).lstrip("-").isdigit() and int(devices) > 0 else 1
    return n * int(trainer.get("num_nodes", 1) or 1)


def data_problems(
    index: ImageIndex,
    *,
    classes: Any,
    stages: Sequence[str],
    batch_size: int,
    m_per_class: int,
    sampler: str,
    epoch_length: int | None,
    knn_k: int | None,
    world_size: int = 1,
) -> list[str]:
    """Every problem of the scanned data for this run's settings (an empty list = good to go).

    Args:
        index: the scanned images.
        classes: ``data.classes`` as configured (``"dna"``, ``"all"`` or a list).
        stages: the stages that will run.
        batch_size, m_per_class, sampler, epoch_length: the training sampler's settings.
        knn_k: the KNN callback's k (None without the callback).
        world_size: training processes.

    Returns:
        One sentence per problem, each naming the setting and its fix.
    """
    problems: list[str] = []
    train = index.counts("train")
    n_train = int(train.sum())
    with_train = int((train > 0).sum())
    if sampler == "m_per_class":
        if m_per_class < 1 or batch_size % m_per_class:
            problems.append(
                f"data.batch_size={batch_size} must be a multiple of data.m_per_class={m_per_class}"
            )
        elif batch_size // m_per_class > with_train:
            problems.append(
                f"data.batch_size={batch_size} with data.m_per_class={m_per_class} needs {batch_size // m_per_class} "
                f"species per batch but only {with_train} have training images; raise data.m_per_class to "
                f"{-(-batch_size // max(with_train, 1))} or lower data.batch_size"
            )
    length = n_train if epoch_length is None else int(epoch_length)
    if length // max(batch_size, 1) // max(world_size, 1) < 1:
        problems.append(
            f"data.batch_size={batch_size}: the training split has {n_train} images, not one full batch per rank "
            f"({world_size} rank(s)); lower data.batch_size"
        )
    if knn_k is not None and n_train < knn_k:
        problems.append(
            f"callbacks.knn_eval.k={knn_k}: the KNN gallery (training split) has only {n_train} images; "
            "lower k or add images"
        )
    for split in ("val", "test"):
        if not (index.splits == split).any():
            problems.append(
                f"the {split} split is empty ({len(index.paths)} images); add images, lower data.split_fractions' "
                f"train share, or give the manifest {split} rows"
            )
    if "align" in stages:
        aligned = len(index.class_names) - len(index.no_dna)
        if index.no_dna and not isinstance(classes, str):
            problems.append(
                f"data.classes lists {len(index.no_dna)} species without DNA ({', '.join(index.no_dna)}); alignment "
                "needs DNA for a listed species: add their sequences to genetics.fasta, drop them from the list, "
                "or use data.classes=all to keep image-only species unaligned"
            )
        elif aligned < 2:
            problems.append(
                f"alignment needs at least 2 species with DNA, the data has {aligned}; add sequences to "
                "genetics.fasta (check genetics.synonyms) or run stages=[pretrain]"
            )
    no_gallery = [index.class_names[c] for c in np.flatnonzero(train == 0)]
    if no_gallery:
        # Not fatal: unseen species are a legitimate zero-shot setting; but a 5-NN vote can never name them.
        log.warning("%d species have no training image (the KNN can never predict them): %s",
                    len(no_gallery), ", ".join(no_gallery))  # fmt: skip
    return problems


def partition_problems(index: ImageIndex, roles: PartitionRoles) -> list[str]:
    """The GZSL stage on a data set whose partitions name its unseen species needs some, and seen ones beside.

    Args:
        index: the scanned images (``partitions`` per image).
        roles: the layout's partition roles.
    """
    targets = roles.targets(index.partitions, index.labels, index.class_names)
    if not targets:
        return [
            f"stages=[..., gzsl]: no usable image in the unseen partitions ({', '.join(roles.unseen)}); map them "
            "to a split in data.partitions (not null) and check data.classes"
        ]
    seen = set(index.labels[index.splits == "train"].tolist()) - {index.class_names.index(t) for t in targets}
    if not seen:
        return ["stages=[..., gzsl]: no seen species has a training image; map the train partition to train"]
    return []


def check_data(cfg: Mapping[str, Any], dm: Any) -> ImageIndex:
    """Scan the data (once) and raise every scan and data problem in one message.

    Args:
        cfg: the run config (``data``, ``stages``, ``trainer``, ``callbacks``).
        dm: the image data module (``scan_with_problems``).

    Returns:
        The scanned index.
    """
    index, problems = dm.scan_with_problems()
    data = cfg["data"]
    if index is not None:
        knn = (cfg.get("callbacks") or {}).get("knn_eval")
        problems = problems + data_problems(
            index,
            classes=data.get("classes", "dna"),
            stages=list(cfg["stages"]),
            batch_size=int(data.get("batch_size", 64)),
            m_per_class=int(data.get("m_per_class", 4)),
            sampler=str(data.get("sampler", "m_per_class")),
            epoch_length=data.get("epoch_length"),
            knn_k=int(knn.get("k", 5)) if knn is not None else None,
            world_size=_world_size(cfg["trainer"]),
        )
        roles = dm.layout.facts.partition_roles if hasattr(dm, "layout") else None  # tests pass bare modules
        if roles is not None and "gzsl" in list(cfg["stages"]):
            problems += partition_problems(index, roles)
    raise_problems(problems, f"data.root={data.get('root') or 'ForamSim'}")
    assert index is not None
    return index
