"""Species names of the Endless Forams classes: the shipped table, folder-name forms, suggestions.

Pure; used by :mod:`visgen.images.folder`, :mod:`visgen.images.phylogeny` and :mod:`visgen.images.forams_sim`.
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from visgen.resources import data_path

# "12 - Globigerinoides ruber", "12_Globigerinoides_ruber", "12.Globigerinoides ruber"
_PREFIX = re.compile(r"^\s*\d+\s*[-_.]?\s*")


def _class_rows(classes_csv: Path | None = None) -> list[dict[str, str]]:
    """The rows of the Endless Forams class table (default: the shipped one)."""
    with open(classes_csv or data_path("endless_forams_classes.csv"), newline="") as fh:
        return list(csv.DictReader(fh))


def species_table() -> list[tuple[str, int]]:
    """The 35 Endless Forams image species with their real image counts, largest first.

    Returns:
        ``[(Genus_species, n_images), ...]`` in the row order of ``endless_forams_classes.csv``.
    """
    return [(row["species"], int(row["n_images"])) for row in _class_rows()]


def known_species(classes_csv: Path | None = None) -> tuple[list[str], list[str]]:
    """The species of the shipped Endless Forams class table.

    Returns:
        (all 35 species in table order, the 32 with DNA ordered by their ``dna_class_32`` id, i.e.
        label k is the paper's EndlessForams class k + 1).
    """
    rows = _class_rows(classes_csv)
    names = [r["species"] for r in rows]
    dna = sorted((int(r["dna_class_32"]), r["species"]) for r in rows if r["dna_class_32"].strip())
    return names, [name for _, name in dna]


def normalise_species_name(folder_name: str) -> str:
    """``"12 - Globigerinoides ruber"`` -> ``"Globigerinoides_ruber"`` (prefix dropped, spaces -> _)."""
    name = _PREFIX.sub("", folder_name).strip()
    name = re.sub(r"[\s_]+", "_", name)
    return name[:1].upper() + name[1:].lower() if name else name


def suggest_name(name: str, known: Sequence[str]) -> str:
    """A "did you mean 'X'?" phrase for the closest known name (difflib ratio ≥ 0.5), for error messages."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'?" if close else "no similar known species"


def species_scales(
    class_names: Sequence[str], scale: float, generated: dict[str, int] | None = None
) -> np.ndarray:
    """Per-species scale = generated images / real images of the species (float64 [C]).

    ForamSim generates ``max(round(n·scale), floor)`` images of a species with ``n`` real ones, so
    for floored rare species the true scale is larger than the dataset's. Dividing their counts by
    the dataset scale would inflate them into the wrong shot bucket; dividing by their own scale
    does not. Species without a generated count (real images, species outside the shipped table)
    use ``scale``.

    Args:
        class_names: species in label order.
        scale: the dataset scale.
        generated: ``dataset.json["counts"]``, images generated per species.
    """
    real = dict(species_table())
    out = np.full(len(class_names), float(scale), dtype=np.float64)
    for c, name in enumerate(class_names):
        if generated and name in generated and real.get(name, 0) > 0:
            out[c] = generated[name] / real[name]
    return out
