"""Config check of the GZSL stage (anchors, methods, shots, permutations), before anything is built.

Called by ``check_config`` with the held-out species that ``visgen.data.heldout.check_heldout`` resolved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from visgen.data.layouts import DataLayout
from visgen.errors import UserInputError, is_int


def check_gzsl(cfg: Mapping[str, Any], targets: Sequence[str] | None, layout: type[DataLayout]) -> None:
    """The GZSL stage needs the pretraining, target species, and known anchors / methods / shots.

    ``targets`` None: the layout's partitions name them (``LayoutFacts.partition_roles``), checked after the scan.
    """
    from visgen.eval.zeroshot import CONTROLS, ENCODER_MODES, LADDER, LEARNED, METHODS, ORACLES, ladder_names
    from visgen.genetics.anchors import ANCHOR_MODES
    from visgen.genetics.encoders import ENCODERS

    if "pretrain" not in list(cfg["stages"]):
        raise UserInputError(
            f"stages={list(cfg['stages'])}: gzsl scores a pretrained trunk; use [pretrain, gzsl]"
        )
    if targets is not None and not targets:
        raise UserInputError(
            "stages=[..., gzsl]: no species held out; set data.unseen=[...] or data.unseen_fold=i"
        )
    g = cfg["gzsl"]
    encoders = list(g["encoders"])
    for e in encoders:
        ENCODERS.get(e)  # an unknown name is one UserInputError naming the known ones
    if not encoders:
        raise UserInputError("gzsl.encoders=[]: the controls need one DNA encoder; use e.g. [sgt]")
    rungs = [f"{e}_{m}" for e in encoders for m in ENCODER_MODES]
    for name in g["anchors"]:
        if name not in (*LADDER, "encoders", *rungs):
            raise UserInputError(
                f"gzsl.anchors=[{name}]: unknown anchor; use any of {', '.join([*ORACLES, *rungs, *LEARNED, *CONTROLS])}, "
                "or encoders for every rung of gzsl.encoders"
            )
        if name.startswith("oracle") and not layout.facts.synthetic:
            raise UserInputError(
                f"gzsl.anchors=[{name}]: oracle anchors exist only for a generated data set (ForamSim knows "
                f"each species' traits and tree; data.source={layout.name} does not); drop them for real images"
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
        raise UserInputError(f"gzsl.permutation.n={g['permutation']['n']}: must be an integer >= 0")
