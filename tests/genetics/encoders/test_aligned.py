"""The alignment encoders on real 18S: a file mixing 18S with COI-like sequences stops with one error line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visgen.errors import UserInputError
from visgen.genetics.dataset import load_genetic_anchors
from visgen.genetics.encoders.aligned import AlignedEncoder
from visgen.genetics.encoders.identity import IdentityEncoder
from visgen.genetics.fasta import read_fasta
from visgen.resources import data_path


def _shipped_18s(n_species: int, per_species: int) -> list[tuple[str, str, str]]:
    """(accession, 'Genus species', sequence) of the first records of the first species of the shipped 18S."""
    by: dict[str, list] = {}
    for r in read_fasta(data_path("foram_18S_rDNA.fasta")).records:
        by.setdefault(r.species, []).append(r)
    return [
        (r.id, r.species.replace("_", " "), r.sequence)
        for s in sorted(by)[:n_species]
        for r in by[s][:per_species]
    ]


def _coi_like(n_species: int, per_species: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """658-bp barcodes with COI's AT-rich composition: one random ancestor per species, 5 % substitutions each."""
    rng = np.random.default_rng(seed)
    out = []
    for s in range(n_species):
        ancestor = rng.choice(list("acgt"), 658, p=[0.3, 0.15, 0.15, 0.4])
        for m in range(per_species):
            seq = ancestor.copy()
            hit = rng.random(658) < 0.05
            seq[hit] = rng.choice(list("acgt"), int(hit.sum()))
            out.append((f"COI{s}{m}", f"Barcodus {'abcdefgh'[s] * 3}", "".join(seq)))
    return out


def _write(path: Path, records: list[tuple[str, str, str]]) -> Path:
    path.write_text("".join(f">{acc} {name}\n{seq}\n" for acc, name, seq in records))
    return path


ENCODERS = [AlignedEncoder, IdentityEncoder]


@pytest.mark.parametrize("encoder", ENCODERS)
def test_18s_alone_aligns_and_gives_one_vector_per_species(tmp_path: Path, encoder: type) -> None:
    fasta = _write(tmp_path / "18s.fasta", _shipped_18s(6, 2) + _shipped_18s(7, 1)[-1:])
    genetic = load_genetic_anchors(fasta, encoder=encoder(), cache_dir=None)
    assert len(genetic.species) == 7 and genetic.anchors.shape[0] == 7
    assert genetic.counts.tolist() == [2] * 6 + [1]  # every record counted with its species


@pytest.mark.parametrize("encoder", ENCODERS)
def test_18s_mixed_with_coi_is_one_error_line(tmp_path: Path, encoder: type) -> None:
    fasta = _write(tmp_path / "mixed.fasta", _shipped_18s(6, 2) + _coi_like(3, 2))
    assert len(read_fasta(fasta).records) == 18  # every record is read: the encoder, not the reader, refuses
    with pytest.raises(UserInputError) as err:
        load_genetic_anchors(fasta, encoder=encoder(), cache_dir=None)
    (line,) = str(err.value).splitlines()
    assert line.startswith("genetics.fasta: ") and "different genes (e.g. 18S and COI)" in line
    assert f"genetics.encoder.min_identity={encoder().min_identity}" in line
