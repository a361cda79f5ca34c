"""The species anchors a run aligns to: the FASTA read with the run's genetics options, SGT, preprocessing, controls."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from visgen.errors import UserInputError
from visgen.resources import data_path

log = logging.getLogger(__name__)


def genetics_options(cfg: DictConfig) -> tuple[Path, dict[str, Any]]:
    """(the FASTA file, the reader/embedding options of ``conf/genetics``)."""
    genetics = OmegaConf.to_container(cfg.genetics, resolve=True)
    genetics.pop("_target_", None)
    fasta = genetics.pop("fasta", None) or data_path("foram_18S_rDNA.fasta")
    return Path(fasta), genetics


def build_anchors(cfg: DictConfig, class_names: list[str]) -> Any:
    """Genetic anchors [C, 256] for the data module's classes, preprocessed and (optionally) replaced by a control.

    Image-only species (``data.classes=all``) keep a NaN row: they are trained and scored but not aligned,
    and the preprocessing and controls act on the species with DNA only.
    """
    from visgen.genetics.anchors import anchor_geometry, control_anchors, preprocess_anchors
    from visgen.genetics.dataset import load_genetic_anchors

    fasta, genetics = genetics_options(cfg)
    genetic = load_genetic_anchors(fasta, **genetics, cache_dir=Path(cfg.cache_dir) / "genetics")
    anchors, missing = genetic.for_classes(class_names)
    if len(missing) == len(class_names):
        raise UserInputError(
            f"genetics.fasta={fasta}: no DNA for any image species; check genetics.synonyms or run stages=[pretrain]"
        )
    has = ~np.isnan(anchors).any(axis=1)
    kept = preprocess_anchors(anchors[has], mode=str(cfg.align.anchor_mode))
    anchors = anchors.copy()
    anchors[has] = control_anchors(kept, kind=str(cfg.align.control), seed=int(cfg.align.control_seed))
    log.info(
        "anchor geometry (%s, control %s): %s",
        cfg.align.anchor_mode,
        cfg.align.control,
        anchor_geometry(anchors[has]),
    )
    return anchors
