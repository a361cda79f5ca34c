"""Species names of the Endless Forams classes: the shipped table, folder-name forms, suggestions.

Pure; used by :mod:`visgen.data.layouts.folder`, :mod:`visgen.sim.trees.kmer_upgma` and :mod:`visgen.sim.forams_sim`.
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np

from visgen.genetics.fasta import normalise_species, synonym_table
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


def canonical_species(folder_name: str, synonyms: Mapping[str, str] | None = None) -> str:
    """The class name of a species folder, spelled and mapped exactly as a FASTA header's species is.

    ``"12 - Trilobatus sacculifer"`` -> ``"Trilobatus_sacculifer"`` -> (synonym) ``"Globigerinoides_sacculifer"``.
    The numeric prefix is dropped, then genus + epithet are normalised by the FASTA reader's rule and
    mapped through the same synonym table (``genetics.synonyms``), so a folder and a header naming one
    species always meet. A name that is not a binomial (``"morphotype 3"``, ``"sp.1"``) keeps its
    whole normalised form, so it still names its own class.

    Args:
        folder_name: a folder name.
        synonyms: genetic/old name -> image-class name (any spelling ``normalise_species`` accepts).
    """
    stripped = _PREFIX.sub("", folder_name).strip()
    name = normalise_species(stripped) or normalise_species_name(stripped)
    return synonym_table(synonyms or {}).get(name, name)


def order_classes(
    species: Collection[str], dna_species: Collection[str], classes: str | Sequence[str]
) -> list[str]:
    """Select and order the image classes (label c = position c).

    Species of the built-in Endless Forams table come first in the paper's class order (label k = the
    paper's class k + 1 on the real data); other species follow by name. ``"dna"`` keeps species with
    DNA; ``"all"`` adds the image-only ones after them; a list is taken in its own order.

    Args:
        species: the species that have images (canonical names).
        dna_species: the species with DNA (canonical names).
        classes: ``"dna"``, ``"all"`` or an explicit list (already canonical).
    """
    all_names, dna32 = known_species()
    paper = {name: k for k, name in enumerate(dna32)}
    table = {name: k for k, name in enumerate(all_names)}
    with_dna = sorted(
        (s for s in species if s in dna_species), key=lambda s: (s not in paper, paper.get(s, 0), s)
    )
    if not isinstance(classes, str):
        return list(classes)
    if classes == "dna":
        return with_dna
    image_only = sorted(
        (s for s in species if s not in dna_species), key=lambda s: (s not in table, table.get(s, 0), s)
    )
    return with_dna + image_only


#: How alike a species name must be to a FASTA species to be called its misspelling (difflib ratio): one letter
#: in a 20-letter name gives 0.97, while unrelated species of one family share ~0.6.
MISSPELLING_RATIO = 0.85


def suggest_name(name: str, known: Sequence[str], cutoff: float = 0.5) -> str:
    """A "did you mean 'X'?" phrase for the closest known name (difflib ratio ≥ ``cutoff``), for error messages."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return f"did you mean '{close[0]}'?" if close else "no similar known species"


def missing_dna_hint(name: str, dna: Collection[str]) -> str:
    """Why an image species has no DNA, for its line in the log and in ``visgen data check``.

    A folder whose name is close to a FASTA species is most likely a misspelling of it (``Globorotalia_menardi``
    beside ``Globorotalia_menardii``): without the hint it would quietly become a species without DNA. The
    Endless Forams species that the shipped table knows to lack 18S are no typo and need no hint.
    """
    catalogued_all, catalogued_dna = known_species()
    if name in set(catalogued_all) - set(catalogued_dna):
        return "no 18S sequence is known for this species"
    close = suggest_name(name, sorted(dna), cutoff=MISSPELLING_RATIO)
    if close.startswith("did you mean"):
        return f"no FASTA species of this name; {close} (rename the folder or add a genetics.synonyms entry)"
    return "no FASTA species of this name"


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
