"""Species anchors in bounded memory: streamed == in-memory, the sampled medoid, the per-species cache and its key."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from visgen.errors import UserInputError
from visgen.genetics.anchors import species_anchors
from visgen.genetics.dataset import load_genetic_anchors, species_sequences
from visgen.genetics.encoders.kmer import KmerEncoder
from visgen.genetics.encoders.sgt import SgtEncoder
from visgen.genetics.fasta import read_fasta
from visgen.genetics.table import read_barcode_table
from visgen.resources import data_path

COLUMNS = {"id_column": "processid", "species_column": "species", "sequence_column": "dna_barcode"}
NAMES = ["Orbulina universa", "Candeina nitida", "Globigerina bulloides", "Hastigerina pelagica", "Sphaeroidinella dehiscens"]  # fmt: skip
ROWS = 61


def write_table(path: Path, rows: int = ROWS, seed: int = 0) -> dict:
    """A TSV of ``rows`` random barcodes (20-80 bases) over 5 species in uneven numbers, plus 2 unusable rows.

    Returns:
        The ``table`` mapping ``load_genetic_anchors`` takes.
    """
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(["processid", "species", "dna_barcode"])
        for i in range(rows):
            species = NAMES[min(int(rng.integers(8)), 4)]  # the last species gets half the rows
            writer.writerow([f"P{i}", species, "".join(rng.choice(list("acgt"), int(rng.integers(20, 81))))])
        writer.writerows([("P900", NAMES[0], "acgtnnacgt"), ("P0", NAMES[1], "acgt")])  # ambiguous, duplicate
    return {"path": str(path), **COLUMNS}


def in_memory(table: dict, encoder, statistic: str = "mean", float32: bool = False):
    """The oracle: every record read at once, every vector in memory, ``species_anchors`` over all of them."""
    keys = {k: v for k, v in table.items() if k != "path"}
    records = read_barcode_table(table["path"], **keys).records
    vectors = encoder.encode([r.sequence for r in records])
    if float32:  # the reservoir keeps float32 rows
        vectors = vectors.astype(np.float32).astype(np.float64)
    names, anchors = species_anchors(vectors, [r.species for r in records], statistic)
    return names, anchors, [sum(r.species == s for r in records) for s in names], vectors, records


class Counting:
    """An encoder wrapper that records how many sequences each ``encode`` call got."""

    def __init__(self, encoder) -> None:
        self.inner, self.calls = encoder, []
        self.name, self.per_species = encoder.name, encoder.per_species

    def problems(self) -> list[str]:
        return self.inner.problems()

    def cache_options(self) -> dict:
        return self.inner.cache_options()

    def encode(self, sequences: list[str]) -> np.ndarray:
        self.calls.append(len(sequences))
        return self.inner.encode(sequences)


def test_default_mean_anchors_equal_the_in_memory_anchors_on_the_shipped_fasta(genetics_cfg: dict) -> None:
    options = {k: v for k, v in genetics_cfg.items() if k not in ("fasta", "defaults", "source", "table")}
    assert options["reduce"] == "mean"  # the shipped default
    got = load_genetic_anchors(data_path("foram_18S_rDNA.fasta"), encoder=SgtEncoder(), **options)
    reader = {k: v for k, v in options.items() if k not in ("reduce", "medoid_sample")}
    records = read_fasta(data_path("foram_18S_rDNA.fasta"), **reader).records
    names, want = species_anchors(
        SgtEncoder().encode([r.sequence for r in records]), [r.species for r in records]
    )
    assert got.species == names
    np.testing.assert_array_equal(got.anchors, want)  # byte-identical, not merely close


@pytest.mark.parametrize("encoder", [SgtEncoder(), KmerEncoder(k=3)], ids=["sgt", "kmer"])
@pytest.mark.parametrize("chunk", [1, 7, ROWS + 10])
def test_streamed_anchors_of_a_table_equal_the_in_memory_ones_for_any_chunk(
    tmp_path: Path, encoder, chunk: int
) -> None:
    table = write_table(tmp_path / "t.tsv")
    names, want, counts, _, _ = in_memory(table, encoder)
    counting = Counting(encoder)
    got = load_genetic_anchors(tmp_path / "none", encoder=counting, source="table", table=table, chunk=chunk)
    assert got.species == names and len(names) == 5
    np.testing.assert_allclose(got.anchors, want, rtol=1e-6, atol=1e-7)  # float32 tolerance
    assert got.counts.tolist() == counts and sum(counts) == ROWS
    assert max(counting.calls) <= chunk and sum(counting.calls) == ROWS  # never more than a chunk of vectors
    assert (got.n_read, got.skipped) == (ROWS + 2, {"IUPAC ambiguity codes": 1, "duplicate accession": 1})
    assert got.summary.endswith(f"read {ROWS + 2} records, kept {ROWS}, skipped 1 (IUPAC ambiguity codes), "
                                "skipped 1 (duplicate accession)")  # fmt: skip


@pytest.mark.parametrize("reduce", ["medoid", "median"])
def test_sampled_reduction_equals_the_brute_force_one_when_the_sample_holds_every_species(
    tmp_path: Path, reduce: str
) -> None:
    table = write_table(tmp_path / "t.tsv")
    names, want, counts, _, _ = in_memory(table, SgtEncoder(), reduce, float32=True)
    assert max(counts) <= 40
    got = load_genetic_anchors(
        tmp_path / "none",
        encoder=SgtEncoder(),
        source="table",
        table=table,
        reduce=reduce,
        medoid_sample=40,
        chunk=6,
    )
    assert got.species == names
    np.testing.assert_array_equal(got.anchors, want)


def test_a_sampled_medoid_is_a_member_of_its_species_and_counts_every_sequence(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.tsv")
    _, _, counts, vectors, records = in_memory(table, SgtEncoder(), float32=True)
    got = load_genetic_anchors(
        tmp_path / "none", encoder=SgtEncoder(), source="table", table=table, reduce="medoid", medoid_sample=3
    )
    assert got.counts.tolist() == counts and max(counts) > 3  # the sample is smaller than a species
    for name, anchor in zip(got.species, got.anchors, strict=True):
        own = vectors[[r.species == name for r in records]]
        assert (own == anchor).all(axis=1).any(), name


def test_reduce_and_its_sample_size_are_part_of_the_cache_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = write_table(tmp_path / "t.tsv")
    cache = tmp_path / "cache"

    def entries(**options) -> int:
        load_genetic_anchors(
            tmp_path / "none", encoder=SgtEncoder(), source="table", table=table, cache_dir=cache, **options
        )
        return len(list(cache.glob("*.npz")))

    assert entries() == 1
    assert entries(medoid_sample=7) == 1  # the mean uses no sample: still the same entry
    assert entries(reduce="medoid") == 2
    assert entries(reduce="medoid", medoid_sample=7) == 3
    assert entries(reduce="median", medoid_sample=7) == 4

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(SgtEncoder, "encode", boom)
    assert entries(reduce="medoid", medoid_sample=7) == 4  # a hit: nothing encoded


def test_the_cache_holds_per_species_arrays_only(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.tsv", rows=400)
    got = load_genetic_anchors(
        tmp_path / "none", encoder=SgtEncoder(), source="table", table=table, cache_dir=tmp_path
    )
    (cache_file,) = tmp_path.glob("*.npz")
    with np.load(cache_file) as z:
        sizes = {key: z[key].shape for key in z.files}
    # Nothing of length N = 400: every array has one row per species (5) or is a scalar.
    assert all(shape[:1] in ((), (5,)) for shape in sizes.values()), sizes
    assert got.counts.sum() == 400 and len(got.name_map()) == 5


def test_a_bad_reduction_is_one_line_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(
        UserInputError, match=r"^genetics\.reduce=mode: unknown value; use one of mean, median, medoid$"
    ):
        load_genetic_anchors(tmp_path / "missing.fasta", encoder=SgtEncoder(), reduce="mode")
    with pytest.raises(UserInputError, match=r"^genetics\.medoid_sample=0: must be an integer >= 1"):
        load_genetic_anchors(
            tmp_path / "missing.fasta", encoder=SgtEncoder(), reduce="medoid", medoid_sample=0
        )


def test_species_sequences_are_the_readers_records_of_those_species(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.tsv")
    _, _, _, _, records = in_memory(table, SgtEncoder())
    wanted = ["Candeina_nitida", "Hastigerina_pelagica", "No_such"]
    got, usable = species_sequences(tmp_path / "none", wanted, source="table", table=table, reduce="medoid")
    assert got == [r for r in records if r.species in wanted] and usable == ROWS and len(got) > 0
