"""The species anchors a run aligns to: the FASTA read with the run's genetics options, the DNA encoder, preprocessing,
controls. The only place a DNA encoder is built from config (``conf/genetics/encoder/<name>.yaml``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from visgen.errors import UserInputError
from visgen.genetics.encoders import DnaEncoder
from visgen.resources import data_path

log = logging.getLogger(__name__)


ENCODER_CONF = Path(__file__).resolve().parents[2] / "conf" / "genetics" / "encoder"


def genetics_options(cfg: DictConfig) -> tuple[Path, dict[str, Any]]:
    """(the FASTA file, the reader options of ``conf/genetics``: everything but the file and the encoder).

    The options include ``source`` (``fasta`` | ``table``) and ``table`` (a barcode table's ``path`` and column
    names), which ``load_genetic_anchors`` and ``fasta_species`` read instead of the FASTA when ``source=table``.
    A table without a path is the data set's own (``DataLayout.barcode_table_of``: BIOSCAN-5M's metadata CSV),
    so its images and their species' anchors come from one file and no FASTA is needed.
    """
    from visgen.data.layouts import LAYOUTS

    genetics = OmegaConf.to_container(cfg.genetics, resolve=True)
    genetics.pop("_target_", None)
    genetics.pop("encoder", None)
    fasta = genetics.pop("fasta", None) or data_path("foram_18S_rDNA.fasta")
    genetics.setdefault("source", "fasta")
    if genetics["source"] != "table":
        genetics.pop("table", None)  # unused: keeps the FASTA reader's options as they were
    elif not (genetics.get("table") or {}).get("path"):
        data = OmegaConf.to_container(cfg.data, resolve=True)
        own = LAYOUTS.get(str(data.get("source"))).barcode_table_of(data)
        if own is None:
            raise UserInputError(
                f"genetics.table.path: not set, and data.source={data.get('source')} carries no barcode table; "
                "give the table's path"
            )
        genetics["table"] = own
    return Path(fasta), genetics


def build_encoder(cfg: DictConfig, name: str | None = None) -> DnaEncoder:
    """The DNA encoder ``name`` (default: the run's ``genetics.encoder``), checked.

    The run's own encoder keeps its command-line overrides (``genetics.encoder.k=6``); any other registered
    encoder (the GZSL ladder's ``gzsl.encoders``) comes from its ``conf/genetics/encoder/<name>.yaml``.

    Raises:
        UserInputError: an unknown name, a missing yaml, or the encoder's own ``problems()`` (first line).
    """
    from visgen.genetics.encoders import ENCODERS

    node = cfg.genetics.encoder
    if name is None or name == _target_name(node):
        conf = node
    else:
        ENCODERS.get(name)  # an unknown name is one UserInputError naming the known ones
        if not (ENCODER_CONF / f"{name}.yaml").is_file():
            raise UserInputError(
                f"gzsl.encoders=[{name}]: no {ENCODER_CONF / name}.yaml; add one with its _target_"
            )
        conf = OmegaConf.load(ENCODER_CONF / f"{name}.yaml")
    encoder = instantiate(conf, _convert_="all")
    if not isinstance(encoder, DnaEncoder):
        raise UserInputError(f"genetics.encoder._target_={conf.get('_target_')}: not a DnaEncoder subclass")
    problems = encoder.problems()
    if problems:
        raise UserInputError(problems[0])
    return encoder


def encoder_from_conf(name: str, overrides: list[str]) -> DnaEncoder:
    """The encoder of ``conf/genetics/encoder/<name>.yaml`` with ``key=value`` overrides (``visgen embed-dna``)."""
    path = ENCODER_CONF / f"{name}.yaml"
    if not path.is_file():
        raise UserInputError(f"--encoder {name}: no {path}; add one with its _target_")
    conf = OmegaConf.load(path)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in conf or key == "_target_":
            keys = ", ".join(k for k in conf if k != "_target_")
            raise UserInputError(f"--set {item}: use KEY=VALUE with KEY one of {keys}")
        conf[key] = yaml_value(value)
    encoder = instantiate(conf, _convert_="all")
    problems = encoder.problems()
    if problems:
        raise UserInputError(problems[0])
    return encoder


def yaml_value(text: str) -> Any:
    """A command-line value as YAML reads it (``6`` -> 6, ``true`` -> True, ``jc69`` -> "jc69")."""
    import yaml

    return yaml.safe_load(text)


def _target_name(node: Any) -> str | None:
    """The registry name of the class a config node's ``_target_`` names (None if it names none)."""
    from visgen.genetics.encoders import ENCODERS

    target = str(node.get("_target_", ""))
    return next((n for n, cls in ENCODERS.items() if f"{cls.__module__}.{cls.__qualname__}" == target), None)


def build_anchors(cfg: DictConfig, class_names: list[str]) -> Any:
    """Genetic anchors [C, D] for the data module's classes, preprocessed and (optionally) replaced by a control.

    Image-only species (``data.classes=all``) keep a NaN row: they are trained and scored but not aligned,
    and the preprocessing and controls act on the species with DNA only.
    """
    from visgen.genetics.anchors import anchor_geometry, control_anchors, preprocess_anchors
    from visgen.genetics.dataset import load_genetic_anchors

    fasta, genetics = genetics_options(cfg)
    genetic = load_genetic_anchors(
        fasta, encoder=build_encoder(cfg), **genetics, cache_dir=Path(cfg.cache_dir) / "genetics"
    )
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


def prepare_gzsl_anchors(cfg: DictConfig) -> None:
    """Compute (and cache) every ``gzsl.encoders`` encoder's anchors now, so an encoder that refuses the FASTA
    (e.g. sequences of two genes for the alignment) stops the run before pretraining; the GZSL stage reuses them."""
    from visgen.genetics.dataset import load_genetic_anchors

    fasta, genetics = genetics_options(cfg)
    for name in cfg.gzsl.encoders:
        load_genetic_anchors(
            fasta,
            encoder=build_encoder(cfg, str(name)),
            **genetics,
            cache_dir=Path(cfg.cache_dir) / "genetics",
        )
