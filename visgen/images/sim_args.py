"""ForamSim's argument checks, shared by ``visgen simulate`` and ``run.py``'s config check (pure, no images).

One table of rules; each caller says how its user spells the arguments (``--phylo-signal`` on the command
line, ``data.phylo_signal`` in the config), so the one-line error names what the user typed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from visgen.errors import UserInputError
from visgen.images import convergence
from visgen.images.species import known_species

#: How ``simulate``'s arguments are spelled on ``visgen simulate``'s command line, for ``check_args``' messages.
CLI_FLAGS: dict[str, str] = {
    "scale": "--scale",
    "size": "--size",
    "phylo_signal": "--phylo-signal",
    "workers": "--workers",
    "intra_spread": "--intra-spread",
    "nuisance": "--nuisance",
    "test_floor": "--test-floor",
    "convergent": "--convergent",
    "convergent_skip": "--convergent-skip",
}


def is_int(v: Any) -> bool:
    """A real integer (YAML's ``true`` is a bool, and ``1.5`` or ``"3"`` are not counts)."""
    return isinstance(v, int) and not isinstance(v, bool)


#: ``simulate``'s argument -> (test of a valid value, the rule as the error states it).
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "scale": (lambda v: v > 0, "must be > 0 (e.g. 0.05)"),
    "size": (lambda v: 32 <= v <= 1024, "must lie in [32, 1024] pixels"),
    "phylo_signal": (lambda v: 0.0 <= v <= 1.0, "(Pagel's lambda) must lie in [0, 1]"),
    "workers": (lambda v: v is None or v >= 1, "must be >= 1"),
    "intra_spread": (lambda v: v >= 0, "must be >= 0"),
    "nuisance": (lambda v: v >= 0, "must be >= 0"),
    "test_floor": (lambda v: is_int(v) and v >= 0, "must be an integer >= 0"),
    "convergent": (
        lambda v: is_int(v) and 0 <= v <= convergence.N_PARTNERS,
        f"must be an integer in [0, {convergence.N_PARTNERS}]",
    ),
    "convergent_skip": (lambda v: is_int(v) and v >= 0, "must be an integer >= 0"),
}


def check_args(where: str, spelled: Mapping[str, str] = CLI_FLAGS, **args: Any) -> None:
    """Check ``simulate``'s arguments (any subset, by keyword) before anything is written.

    Args:
        where: what the user ran, first in the message (``visgen simulate --out X``, a config file).
        spelled: how the user spells each argument (``CLI_FLAGS``, or config keys such as ``data.scale``).
        **args: the values, keyed by ``simulate``'s argument names.

    Raises:
        UserInputError: one line naming ``where``, the argument as spelled, the rule and the value.
    """
    for arg, value in args.items():
        valid, rule = _RULES[arg]
        try:
            ok = bool(valid(value))
        except TypeError:  # a string where a number belongs
            ok = False
        if not ok:
            raise UserInputError(f"{where}: {spelled[arg]} {rule}, got {value!r}")
    k, skip = args.get("convergent", 0), args.get("convergent_skip", 0)
    room = len(known_species()[1]) - convergence.N_PARTNERS  # species with DNA below the partners
    if k + skip > room:
        raise UserInputError(
            f"{where}: {spelled['convergent_skip']} + {spelled['convergent']} must be <= {room} (the look-alikes "
            f"lie below the {convergence.N_PARTNERS} largest species, their partners), got {skip} + {k}"
        )
