"""ForamSim's settings as one dataclass, and everything derived from it (pure, no images).

``SimSettings`` lists every knob that changes what ``forams_sim.simulate`` writes. Each field carries its range
rule, its help text and (optionally) its config key and report-header phrase, so adding a knob is one field here
(plus its line in ``conf/data/synthetic.yaml`` and its use in the generator); the command-line flag
(``--convergent-skip``), the config key (``data.sim_convergent_skip``), the range check of both, the cache key
and the report header follow from the field. Each caller says how its user spells the settings, so the one-line
error names what the user typed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any

from visgen.errors import UserInputError, is_int
from visgen.genetics.species import known_species
from visgen.sim import convergence, trees

# Difficulty defaults, calibrated against the training pipeline (experiments/forams_sim_difficulty/README.md and
# the note in visgen/sim/forams_sim.py).
DEFAULT_INTRA_SPREAD = 0.5
DEFAULT_NUISANCE = 1.0


def knob(
    default: Any,
    valid: Callable[[Any], bool],
    rule: str,
    help: str,
    *,
    config: str | None = None,
    header: str | None = "{name} {}",
    off: Any = MISSING,
) -> Any:
    """A ``SimSettings`` field.

    Args:
        default: the generator's default.
        valid: test of a valid value. rule: the rule as the error states it (``must be >= 0``).
        help: the command-line help.
        config: the key under ``data.`` (default ``sim_<name>``).
        header: how the report header prints the value (``{name}`` = the field name); None = not by this table.
        off: a value at which the knob does nothing: the header leaves the knob out when every run has it.
    """
    meta = {"valid": valid, "rule": rule, "help": help, "config": config, "header": header, "off": off}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class SimSettings:
    """Everything that changes ForamSim's output (``workers`` does not: the bytes do not depend on it)."""

    scale: float = knob(
        1.0, lambda v: v > 0, "must be > 0 (e.g. 0.05)", "fraction of the real 27,729 images", config="scale",
        header=None,
    )  # fmt: skip
    size: int = knob(128, lambda v: 32 <= v <= 1024, "must lie in [32, 1024] pixels", "image side in pixels",
                     header=None)  # fmt: skip
    seed: int = knob(0, is_int, "must be an integer", "master seed: traits, specimens, splits (the draw)",
                     header="draw {}")  # fmt: skip
    phylo_signal: float = knob(
        1.0, lambda v: 0.0 <= v <= 1.0, "(Pagel's lambda) must lie in [0, 1]", "Pagel's lambda in [0, 1]",
        config="phylo_signal", header=None,
    )  # fmt: skip
    intra_spread: float = knob(
        DEFAULT_INTRA_SPREAD, lambda v: v >= 0, "must be >= 0",
        "specimen spread of the traits relative to the species differences (difficulty)",
    )  # fmt: skip
    nuisance: float = knob(
        DEFAULT_NUISANCE, lambda v: v >= 0, "must be >= 0",
        "strength of pose, lighting, blur, noise and debris (0 = studio images)",
    )  # fmt: skip
    test_floor: int = knob(
        0, lambda v: is_int(v) and v >= 0, "must be an integer >= 0",
        "extra test images lift every species' test split to at least this many (0 = the real split)",
        header="test floor {} images per species (extras count in per-class/rare/buckets, not overall)",
    )  # fmt: skip
    published: bool = knob(
        True, lambda v: isinstance(v, bool), "must be true or false",
        "draw the published diagnostic morphology of 15 species (Orbulina's sphere, the keeled Globorotalia, "
        "planispiral Globigerinella, ...: visgen/sim/shells.py); false: every shell follows its species' "
        "Brownian traits only, so at phylo_signal 0 nothing in the images follows the taxonomy",
        header="published morphology {}", off=True,
    )  # fmt: skip
    convergent: int = knob(
        0, lambda v: is_int(v) and 0 <= v <= convergence.N_PARTNERS,
        f"must be an integer in [0, {convergence.N_PARTNERS}]",
        "the K rarest species become look-alikes of common, genetically distant species (0 = none)",
        header="{} convergent look-alike pairs", off=0,
    )  # fmt: skip
    convergent_skip: int = knob(
        0, lambda v: is_int(v) and v >= 0, "must be an integer >= 0",
        "the look-alikes start after this many of the rarest species (e.g. 14: medium species)",
        header="look-alikes after the {} rarest species", off=0,
    )  # fmt: skip
    tree: str = knob(
        trees.DEFAULT, lambda v: v in trees.TREES.names(), f"must be one of {', '.join(trees.TREES.names())}",
        "the species tree the Brownian traits evolve along (visgen/sim/trees/): kmer_upgma = UPGMA on the 18S "
        "k-mers the DNA anchors come from; aze2011 = the fossil morphospecies tree of Aze et al. 2011, "
        "independent of the DNA",
        header="{} species tree", off=trees.DEFAULT,
    )  # fmt: skip


def knobs() -> tuple[Field, ...]:
    """The fields of ``SimSettings`` (looked up at call time, so a subclass patched in for a test is seen)."""
    return fields(SimSettings)


def cli_flag(f: Field) -> str:
    """``convergent_skip`` -> ``--convergent-skip``."""
    return "--" + f.name.replace("_", "-")


def config_key(f: Field) -> str:
    """The field's key under ``data.``: its ``config`` metadata, else ``sim_<name>``."""
    return f.metadata.get("config") or f"sim_{f.name}"


def config_keys() -> dict[str, str]:
    """``{data key: SimSettings field}``, e.g. ``{"sim_seed": "seed", "phylo_signal": "phylo_signal", ...}``."""
    return {config_key(f): f.name for f in knobs()}


def cli_flags() -> dict[str, str]:
    """``{field: command-line flag}`` of ``visgen simulate`` (plus ``--workers``, which is no setting)."""
    return {**{f.name: cli_flag(f) for f in knobs()}, "workers": "--workers"}


def header_knobs() -> list[tuple[str, str, Any]]:
    """``(dataset.json key, header phrase, off value)`` for each setting the report header prints."""
    return [
        (f.name, f.metadata["header"].replace("{name}", f.name), f.metadata["off"])
        for f in knobs()
        if f.metadata.get("header")
    ]


def cache_fields(s: SimSettings) -> dict[str, Any]:
    """Every setting, as the cache key and ``dataset.json`` record it."""
    return asdict(s)


def check_args(where: str, spelled: Mapping[str, str] | None = None, **args: Any) -> None:
    """Check settings (any subset, by keyword; ``workers`` too) before anything is written.

    Args:
        where: what the user ran, first in the message (``visgen simulate --out X``, a config file).
        spelled: how the user spells each setting (default: the command-line flags).
        **args: the values, keyed by ``SimSettings`` field names.

    Raises:
        UserInputError: one line naming ``where``, the setting as spelled, the rule and the value.
    """
    spelled = spelled or cli_flags()
    rules = {f.name: (f.metadata["valid"], f.metadata["rule"]) for f in knobs()}
    rules["workers"] = (lambda v: v is None or (is_int(v) and v >= 1), "must be >= 1")
    for arg, value in args.items():
        if arg not in rules:
            raise TypeError(f"unknown ForamSim setting {arg!r}")
        valid, rule = rules[arg]
        try:
            ok = bool(valid(value))
        except TypeError:  # a string where a number belongs
            ok = False
        if not ok:
            raise UserInputError(f"{where}: {spelled.get(arg, arg)} {rule}, got {value!r}")
    k, skip = args.get("convergent", 0), args.get("convergent_skip", 0)
    room = len(known_species()[1]) - convergence.N_PARTNERS  # species with DNA below the partners
    if k + skip > room:
        raise UserInputError(
            f"{where}: {spelled.get('convergent_skip')} + {spelled.get('convergent')} must be <= {room} (the "
            f"look-alikes lie below the {convergence.N_PARTNERS} largest species, their partners), got {skip} + {k}"
        )


def check_config_data(data: Mapping[str, Any]) -> None:
    """Check the ForamSim keys of a run's ``data`` config, naming them as ``data.<key>``."""
    keys = config_keys()
    given = {name: data[key] for key, name in keys.items() if key in data}
    check_args("config", {name: f"data.{key}" for key, name in keys.items()}, **given)


_TYPES = {"float": float, "int": int, "str": str, float: float, int: int, str: str}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``visgen simulate`` flag per setting, with the field's default and help (``--x/--no-x`` for a bool)."""
    for f in knobs():
        kind = (
            {"action": argparse.BooleanOptionalAction}
            if f.type in ("bool", bool)
            else {"type": _TYPES[f.type]}
        )
        parser.add_argument(cli_flag(f), **kind, default=f.default, help=f.metadata["help"])


def from_namespace(ns: argparse.Namespace) -> dict[str, Any]:
    """The settings ``add_arguments`` parsed, as ``simulate`` keywords."""
    return {f.name: getattr(ns, f.name) for f in knobs()}
