"""DNA encoders as plug-ins: one module per representation, each registering one ``DnaEncoder`` subclass.

An encoder turns nucleotide sequences into vectors. Most work per sequence (``encode``: N sequences in,
``[N, D]`` out) and the species anchor is a statistic of its sequences' rows; some (``per_species = True``)
compare the species with each other and give one row per species directly (``encode_species``).

Adding one: a module in this package with an ``@ENCODERS.register("<name>")`` class and
``conf/genetics/encoder/<name>.yaml`` whose ``_target_`` names the class (``docs/extend/encoders.md``). ``ENCODERS``
imports every module of the package the first time it is asked, so it is complete without a hand-kept list.
Torch-free.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from visgen.registry import Registry


class DnaEncoder(ABC):
    """One DNA representation: nucleotide strings (a, c, g, t in any case) -> float vectors.

    Contract every subclass keeps (``tests/genetics/encoders/test_contract.py`` checks it for each):

    * ``name``: the registry key, the yaml file name and the prefix of the GZSL rungs ``<name>_raw`` ...
    * ``__init__`` takes exactly the keys of ``cache_options()`` as keyword arguments, each with a default,
      and only stores them: checking is ``problems()``'s job, so a config check can list every problem at once.
    * ``choices``: the allowed values of each categorical option (used by ``problems()`` and the tests).
    """

    name: ClassVar[str]
    per_species: ClassVar[bool] = False
    choices: ClassVar[Mapping[str, tuple[Any, ...]]] = {}

    @abstractmethod
    def cache_options(self) -> dict[str, Any]:
        """Every setting that changes the output (JSON-serialisable): part of the anchors' cache key."""

    @abstractmethod
    def problems(self) -> list[str]:
        """The settings' problems, each one line ``genetics.encoder.<key>=<value>: <why>; <fix>`` (empty: fine)."""

    def encode(self, sequences: Sequence[str]) -> np.ndarray:
        """Embed each sequence.

        Args:
            sequences: N nucleotide strings (a, c, g, t; any case).

        Returns:
            float64 [N, D].
        """
        # A per-species encoder treats every sequence as a species of its own.
        names, vectors = self.encode_species({str(i): [s] for i, s in enumerate(sequences)})
        return vectors[np.argsort(np.array(names, dtype=np.int64))]

    def encode_species(self, records_by_species: Mapping[str, Sequence[str]]) -> tuple[list[str], np.ndarray]:
        """One vector per species (only encoders with ``per_species = True`` need to override this).

        Args:
            records_by_species: S species -> their nucleotide strings (at least one each).

        Returns:
            ``(names, vectors)``: the S species names and float64 [S, D], rows in the order of ``names``.
        """
        raise NotImplementedError(f"{type(self).__name__} encodes per sequence; call encode()")

    def _choice_problems(self) -> list[str]:
        """``problems()`` lines for categorical options whose value is not in ``choices``."""
        options = self.cache_options()
        return [
            f"genetics.encoder.{key}={options[key]}: unknown; use one of {', '.join(map(str, allowed))}"
            for key, allowed in self.choices.items()
            if options[key] not in allowed
        ]

    def _identity_floor_problems(self) -> list[str]:
        """The ``problems()`` line of ``min_identity``, the floor below which the alignment encoders take a file to
        hold different genes (an identity fraction in [0, 1); the fix names the class's own default)."""
        floor = self.cache_options()["min_identity"]
        if isinstance(floor, int | float) and 0 <= floor < 1:
            return []
        default = inspect.signature(type(self)).parameters["min_identity"].default
        return [f"genetics.encoder.min_identity={floor}: an identity fraction in [0, 1); use e.g. {default}"]


#: encoder name (``gzsl.encoders``, ``visgen embed-dna --encoder``) -> class; ``@ENCODERS.register("<name>")``
#: on each module's class.
ENCODERS: Registry[type[DnaEncoder]] = Registry("DNA encoder", "gzsl.encoders", __name__)
