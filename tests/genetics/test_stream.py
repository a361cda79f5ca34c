"""Streaming DNA encoding: chunked anchors equal the in-memory ones, memmap rows equal encode's, the reservoir medoid."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from visgen.genetics.anchors import species_anchors
from visgen.genetics.embed import embed_fasta_file
from visgen.genetics.encoders.kmer import KmerEncoder
from visgen.genetics.encoders.sgt import SgtEncoder
from visgen.genetics.fasta import FastaResult, SequenceRecord, iter_fasta, read_fasta
from visgen.genetics.stream import StreamingAnchors, chunked, id_file, stream_encode

SPECIES = ["Orbulina universa", "Candeina nitida", "Globigerina bulloides", "Hastigerina pelagica"]
N = 23


def random_fasta(path: Path, n: int = N, seed: int = 0) -> Path:
    """``n`` random sequences (30-90 bases) over 4 species in uneven numbers, plus one record of each bad kind."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        species = SPECIES[min(int(rng.integers(6)), 3)]  # species 3 gets half the records
        seq = "".join(rng.choice(list("acgt"), int(rng.integers(30, 91))))
        lines += [f">ACC{i} {species}", seq[:40], seq[40:]]
    lines += [
        ">BAD1 Orbulina universa",
        "acgtnacgt",
        ">ACC0 Orbulina universa",
        "acgt",
        ">BAD2 nospecies",
        "acgt",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("encoder", [SgtEncoder(), KmerEncoder(k=3)], ids=["sgt", "kmer"])
@pytest.mark.parametrize("chunk", [1, 7, N + 5])
def test_streaming_mean_anchor_equals_the_in_memory_anchor(tmp_path: Path, encoder, chunk: int) -> None:
    fasta = random_fasta(tmp_path / "r.fasta")
    read = read_fasta(fasta)
    names, expected = species_anchors(
        encoder.encode([r.sequence for r in read.records]), [r.species for r in read.records]
    )
    tally = FastaResult(path=fasta)
    streamed = stream_encode(iter_fasta(fasta, tally), encoder, chunk=chunk)
    got_names, got = streamed.anchors.anchors("mean")
    assert got_names == names and len(names) == 4
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)  # float32 tolerance
    assert streamed.n == len(read.records) == N
    assert [streamed.anchors.counts[s] for s in names] == [
        sum(r.species == s for r in read.records) for s in names
    ]
    # Bad records are counted by reason exactly as the reader counts them.
    assert (
        tally.skipped
        == read.skipped
        == {"IUPAC ambiguity codes": 1, "duplicate accession": 1, "no species in header": 1}
    )
    assert tally.n_read == read.n_read == N + 3


@pytest.mark.parametrize("content", ["\r\n", "\r", "gz", "latin1"])
def test_lazy_fasta_reader_yields_what_read_fasta_returns(tmp_path: Path, content: str) -> None:
    text = ";c\n\n>A1\u00a0Orbulina  universa\nac-gt\n  acgt\n>A2 Candeina nitida\nGGNCC\n>A3 x\nacgt\n"
    if content == "latin1":
        data = text.encode("latin-1")
    elif content == "gz":
        data = gzip.compress(text.encode(), mtime=0)
    else:
        data = text.replace("\n", content).encode()
    path = tmp_path / "e.fasta"
    path.write_bytes(data)
    for iupac in ("skip", "drop"):
        read, tally = read_fasta(path, iupac=iupac), FastaResult(path=path)
        assert list(iter_fasta(path, tally, iupac=iupac)) == read.records and len(read.records) >= 1
        assert (tally.n_read, tally.skipped) == (read.n_read, read.skipped)


def test_chunked_sgt_file_equals_the_unchunked_one(tmp_path: Path) -> None:
    fasta = random_fasta(tmp_path / "r.fasta")
    embed_fasta_file(fasta, tmp_path / "all.npz", encoder=SgtEncoder())
    embed_fasta_file(fasta, tmp_path / "chunked.npz", encoder=SgtEncoder(), chunk=4)
    with np.load(tmp_path / "all.npz") as a, np.load(tmp_path / "chunked.npz") as b:
        assert sorted(a.files) == sorted(b.files) == ["embeddings", "ids", "species"]
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_memmap_rows_equal_encode_rows(tmp_path: Path) -> None:
    fasta = random_fasta(tmp_path / "r.fasta")
    records = read_fasta(fasta).records
    encoder = SgtEncoder()
    expected = encoder.encode([r.sequence for r in records])
    line = embed_fasta_file(
        fasta, tmp_path / "anchors.npz", encoder=encoder, chunk=5, memmap=tmp_path / "m" / "rows.npy"
    )
    assert "embedded 23, skipped 1 (IUPAC ambiguity codes), skipped 1 (duplicate accession)" in line
    rows = np.load(tmp_path / "m" / "rows.npy", mmap_mode="r")
    assert rows.dtype == np.float32 and rows.shape == (N, 256)
    np.testing.assert_array_equal(rows, expected.astype(np.float32))
    pairs = [line.split("\t") for line in id_file(tmp_path / "m" / "rows.npy").read_text().splitlines()]
    assert pairs == [[r.id, r.species] for r in records]
    names, means = species_anchors(expected, [r.species for r in records])
    with np.load(tmp_path / "anchors.npz") as z:
        assert z["species"].tolist() == names
        np.testing.assert_allclose(z["anchors"], means, rtol=1e-6, atol=1e-7)
        assert z["counts"].sum() == N


def test_memmap_needs_the_number_of_records_and_checks_it(tmp_path: Path) -> None:
    records = [SequenceRecord(f"a{i}", "G_s", "acgtacgt", "G_s") for i in range(3)]
    with pytest.raises(ValueError, match="needs n_records"):
        stream_encode(records, SgtEncoder(), memmap=tmp_path / "x.npy")
    with pytest.raises(ValueError, match="3 records, not n_records=4"):
        stream_encode(records, SgtEncoder(), memmap=tmp_path / "x.npy", n_records=4)


def _blocks(rng: np.random.Generator, sizes: dict[str, int]) -> tuple[np.ndarray, list[str]]:
    species = [s for s, n in sizes.items() for _ in range(n)]
    order = rng.permutation(len(species))
    return rng.normal(size=(len(species), 5)), [species[i] for i in order]


def test_reservoir_medoid_is_exact_when_the_bound_holds_every_member() -> None:
    vectors, species = _blocks(np.random.default_rng(1), {"A": 9, "B": 4, "C": 1})
    reduction = StreamingAnchors(medoid_bound=9, seed=3)
    for start in range(0, len(species), 4):
        reduction.update(vectors[start : start + 4], species[start : start + 4])
    names, got = reduction.anchors("medoid")
    # The oracle: brute-force medoid over every member, on the float32 rows the reservoir keeps.
    want_names, want = species_anchors(vectors.astype(np.float32).astype(np.float64), species, "medoid")
    assert names == want_names == ["A", "B", "C"]
    np.testing.assert_array_equal(got, want)


def test_reservoir_medoid_is_deterministic_given_the_seed_and_bounded() -> None:
    vectors, species = _blocks(np.random.default_rng(2), {"A": 60, "B": 30})

    def run(seed: int, chunk: int) -> StreamingAnchors:
        reduction = StreamingAnchors(medoid_bound=8, seed=seed)
        for start in range(0, len(species), chunk):
            reduction.update(vectors[start : start + chunk], species[start : start + chunk])
        return reduction

    first, again, other_chunks = run(7, 10), run(7, 10), run(7, 3)
    np.testing.assert_array_equal(first.anchors("medoid")[1], again.anchors("medoid")[1])
    # The draws follow the record order, not the chunking.
    np.testing.assert_array_equal(first.anchors("medoid")[1], other_chunks.anchors("medoid")[1])
    assert {len(v) for v in first.reservoirs.values()} == {8}
    # Copies, not views: a view would keep its whole chunk alive.
    assert all(v.base is None for kept in first.reservoirs.values() for v in kept)
    members = {
        s: {tuple(v) for v, t in zip(vectors.astype(np.float32), species, strict=True) if t == s}
        for s in "AB"
    }
    for s in "AB":
        assert all(tuple(v) in members[s] for v in first.reservoirs[s])  # a sample of the species' own rows
    seeds = {tuple(map(tuple, run(seed, 10).reservoirs["A"])) for seed in range(5)}
    assert len(seeds) > 1  # the seed matters


def test_chunked_reads_lazily() -> None:
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    it = chunked(endless(), 3)
    assert next(it) == [0, 1, 2] and next(it) == [3, 4, 5]
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError):
        next(chunked(range(3), 0))
