"""Paths to the real data shipped inside the package (``visgen/data/forams``, MIT; see PROVENANCE.md)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data" / "forams"


def data_path(name: str) -> Path:
    """Return the path of a shipped data file, e.g. ``data_path("foram_18S_rDNA.fasta")``.

    Raises:
        FileNotFoundError: the file is not part of the shipped data (a packaging bug, not a user error).
    """
    path = DATA_DIR / name
    if not path.exists():
        known = ", ".join(sorted(p.name for p in DATA_DIR.iterdir()))
        raise FileNotFoundError(f"{path} is not shipped with visgen (shipped: {known})")
    return path
