"""Config checks of the held-out species (``data.unseen*``, ``data.shots``) and of the GZSL stage.

Called by ``check_config`` before anything is built: an unknown or DNA-less unseen species, a fold index out
of range or more shots than a species has training images is one ``error:`` line, not a failed pretraining.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visgen.errors import UserInputError
from visgen.sim.settings import is_int


def _classes(data: Mapping[str, Any]) -> list[str]:
    from visgen.genetics.species import known_species, normalise_species_name

    all_names, dna = known_species()
    classes = data.get("classes", "dna")
    if classes in (None, "dna"):
        return list(dna)
    if classes == "all":
        return list(dna) + [n for n in all_names if n not in dna]
    return [normalise_species_name(str(c)) for c in classes]


def check_heldout(data: Mapping[str, Any]) -> list[str]:
    """Check ``data.unseen`` / ``unseen_fold`` / ``unseen_folds`` / ``shots``; return the target species."""
    from visgen.data.heldout import anchored_species, resolve_targets, tail_counts
    from visgen.genetics.species import known_species, normalise_species_name, suggest_name

    unseen, fold = data.get("unseen"), data.get("unseen_fold")
    folds, shots = data.get("unseen_folds", 8), data.get("shots", 0)
    for key, value, least in (("unseen_folds", folds, 2), ("unseen_fold", fold, 0), ("shots", shots, 0)):
        if value is not None and not (is_int(value) and value >= least):
            raise UserInputError(f"data.{key}={value}: must be an integer >= {least}")
    if unseen and fold is not None:
        raise UserInputError(
            f"data.unseen_fold={fold}: data.unseen is also set; give the species list or a fold, not both"
        )
    classes = _classes(data)
    anchored = anchored_species(classes)
    all_names, dna = known_species()
    for name in unseen or []:
        canon = normalise_species_name(str(name))
        if canon not in all_names and canon not in classes:
            raise UserInputError(
                f"data.unseen=[{name}]: unknown species ({suggest_name(canon, all_names)}); use Genus_species"
            )
        if canon not in dna:
            raise UserInputError(
                f"data.unseen=[{name}]: {canon} has no DNA, so nothing could recognise it unseen; "
                "hold out species with 18S sequences"
            )
        if canon not in classes:
            raise UserInputError(f"data.unseen=[{name}]: {canon} is not in data.classes; add it or drop it")
    if fold is not None and not fold < folds:
        raise UserInputError(
            f"data.unseen_fold={fold}: out of range for data.unseen_folds={folds}; use 0..{folds - 1}"
        )
    if fold is not None and folds > len(anchored):
        raise UserInputError(
            f"data.unseen_folds={folds}: only {len(anchored)} species have DNA; use 2..{len(anchored)}"
        )
    targets = resolve_targets(
        anchored, unseen=[normalise_species_name(str(n)) for n in unseen or []] or None, unseen_fold=fold,
        unseen_folds=int(folds), unseen_seed=int(data.get("unseen_seed", 0)), counts=tail_counts(anchored),
    )  # fmt: skip
    if shots and not targets:
        raise UserInputError(
            f"data.shots={shots}: no target species; set data.unseen=[...] or data.unseen_fold=i"
        )
    n_seen = len(classes) - (len(targets) if not shots else 0)
    m, batch = data.get("m_per_class", 4), data.get("batch_size", 64)
    if targets and data.get("sampler", "m_per_class") == "m_per_class" and batch // m > n_seen:
        raise UserInputError(
            f"data.batch_size={batch}: with data.m_per_class={m} a batch needs {batch // m} species, but only "
            f"{n_seen} have training images once {len(targets)} are held out; use data.batch_size={n_seen * m}"
        )
    if shots and data.get("source", "forams_sim") == "forams_sim":
        train = forams_sim_train_counts(float(data.get("scale", 1.0)), int(data.get("sim_seed", 0)))
        fewest = min(targets, key=lambda t: train[t])
        if shots > train[fewest]:
            raise UserInputError(
                f"data.shots={shots}: {fewest} has only {train[fewest]} training images at data.scale="
                f"{data.get('scale')}; use data.shots<={train[fewest]}"
            )
    return targets


def forams_sim_train_counts(scale: float, seed: int) -> dict[str, int]:
    """Training images per species that ForamSim writes at ``scale`` (its own count and split functions)."""
    from visgen.sim.forams_sim import species_counts, split_labels

    out = {}
    for s_idx, (name, n) in enumerate(species_counts(scale)):
        labels = split_labels(n, np.random.default_rng([seed, s_idx, 0x5B11]))
        out[name] = sum(1 for s in labels if s == "train")
    return out


def check_gzsl(cfg: Mapping[str, Any], targets: Sequence[str]) -> None:
    """The GZSL stage needs the pretraining, target species, and known anchors / methods / shots."""
    from visgen.eval.zeroshot import CONTROLS, ENCODER_MODES, LADDER, METHODS, ORACLES, ladder_names
    from visgen.genetics.anchors import ANCHOR_MODES
    from visgen.genetics.encoders import ENCODERS

    if "pretrain" not in list(cfg["stages"]):
        raise UserInputError(
            f"stages={list(cfg['stages'])}: gzsl scores a pretrained trunk; use [pretrain, gzsl]"
        )
    if not targets:
        raise UserInputError(
            "stages=[..., gzsl]: no species held out; set data.unseen=[...] or data.unseen_fold=i"
        )
    g = cfg["gzsl"]
    encoders = list(g["encoders"])
    for e in encoders:
        if e not in ENCODERS:
            raise UserInputError(
                f"gzsl.encoders=[{e}]: unknown DNA encoder; use any of {', '.join(sorted(ENCODERS))}"
            )
    if not encoders:
        raise UserInputError("gzsl.encoders=[]: the controls need one DNA encoder; use e.g. [sgt]")
    rungs = [f"{e}_{m}" for e in encoders for m in ENCODER_MODES]
    for name in g["anchors"]:
        if name not in (*LADDER, "encoders", *rungs):
            raise UserInputError(
                f"gzsl.anchors=[{name}]: unknown anchor; use any of {', '.join([*ORACLES, *rungs, *CONTROLS])}, "
                "or encoders for every rung of gzsl.encoders"
            )
        if name.startswith("oracle") and cfg["data"].get("source", "forams_sim") != "forams_sim":
            raise UserInputError(
                f"gzsl.anchors=[{name}]: oracle anchors exist only for ForamSim (data.source=forams_sim); "
                "drop them for real images"
            )
    for m in list(g["methods"]) + list(g["permutation"]["methods"]):
        if m not in METHODS:
            raise UserInputError(f"gzsl.methods=[{m}]: unknown method; use {', '.join(METHODS)}")
    ladder = ladder_names(g["anchors"], encoders)
    for name in g["permutation"]["anchors"]:
        if name not in ladder:
            raise UserInputError(
                f"gzsl.permutation.anchors=[{name}]: not in gzsl.anchors; add it there or drop it"
            )
    if g["control_of"] not in ANCHOR_MODES:
        raise UserInputError(
            f"gzsl.control_of={g['control_of']}: unknown; use one of {', '.join(ANCHOR_MODES)}"
        )
    for k in g["shots"]:
        if not (is_int(k) and k >= 0):
            raise UserInputError(f"gzsl.shots=[{k}]: support sizes must be integers >= 0")
    if not (is_int(g["permutation"]["n"]) and g["permutation"]["n"] >= 0):
        raise UserInputError(f"gzsl.permutation.n={g['null']['permutations']}: must be an integer >= 0")
