"""``visgen sgt`` end to end: the shipped FASTA against the published oracle, and a bad file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from visgen.resources import data_path


def _visgen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "visgen.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_sgt_on_the_shipped_fasta(
    tmp_path: Path, oracle: pd.DataFrame, oracle_embeddings: np.ndarray
) -> None:
    out = tmp_path / "sub" / "embeddings"  # no .npz suffix: written exactly there anyway
    proc = _visgen("sgt", str(data_path("foram_18S_rDNA.fasta")), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.strip().splitlines()
    assert line.startswith(
        "foram_18S_rDNA.fasta: read 878 records, embedded 854, skipped 24 (IUPAC ambiguity codes); "
    )
    with np.load(out, allow_pickle=False) as z:
        assert sorted(z.files) == ["embeddings", "ids", "species"]
        ids, species, emb = z["ids"].tolist(), z["species"].tolist(), z["embeddings"]
    assert emb.shape == (854, 256) and emb.dtype == np.float64 and len(ids) == len(species) == 854
    assert species[ids.index("MK499771")] == "Candeina_nitida"
    rows = [ids.index(a) for a in oracle["accession"]]
    assert len(rows) == 804
    assert np.abs(emb[rows] - oracle_embeddings).max() <= 1e-9


def test_sgt_options_change_the_output(tmp_path: Path) -> None:
    fasta = tmp_path / "two.fasta"
    fasta.write_text(">A1 Orbulina universa\nacgtacgtta\n>A2 Candeina nitida\nggcattnac\n")
    out = tmp_path / "b.npz"
    proc = _visgen(
        "sgt", str(fasta), "--out", str(out), "--alphabet", "base", "--iupac", "drop", "--kappa", "5"
    )
    assert proc.returncode == 0, proc.stderr
    assert "embedded 2" in proc.stdout
    with np.load(out) as z:
        assert z["embeddings"].shape == (2, 16)


def test_sgt_on_a_bad_file_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "page.fasta"
    bad.write_text("<!DOCTYPE html><html><body>404</body></html>")
    proc = _visgen("sgt", str(bad), "--out", str(tmp_path / "x.npz"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {bad}: looks like HTML") and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.npz").exists()


def test_sgt_unwritable_output_is_one_line(tmp_path: Path) -> None:
    fasta = tmp_path / "one.fasta"
    fasta.write_text(">A1 Orbulina universa\nacgtacgtta\n")
    blocker = tmp_path / "file"
    blocker.write_text("a file, so no folder can be made under it")
    proc = _visgen("sgt", str(fasta), "--out", str(blocker / "x.npz"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {blocker / 'x.npz'}: cannot write")


def test_embed_dna_with_sgt_equals_visgen_sgt_and_kmer_is_tunable(tmp_path: Path) -> None:
    """``visgen sgt`` is a view of the encoder: ``embed-dna --encoder sgt`` writes the same numbers."""
    fasta = tmp_path / "two.fasta"
    fasta.write_text(">A1 Orbulina universa\nacgtacgtta\n>A2 Candeina nitida\nggcattac\n")
    assert _visgen("sgt", str(fasta), "--out", str(tmp_path / "a.npz"), "--kappa", "2").returncode == 0
    proc = _visgen(
        "embed-dna", str(fasta), "--out", str(tmp_path / "b.npz"), "--encoder", "sgt", "--set", "kappa=2"
    )
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        np.testing.assert_array_equal(a["embeddings"], b["embeddings"])
    proc = _visgen(
        "embed-dna", str(fasta), "--out", str(tmp_path / "k.npz"), "--encoder", "kmer", "--set", "k=3"
    )
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "k.npz") as z:
        assert z["embeddings"].shape == (2, 64) and np.allclose(z["embeddings"].sum(axis=1), 1.0)


def test_embed_dna_bad_option_is_one_line_exit_2(tmp_path: Path) -> None:
    fasta = tmp_path / "one.fasta"
    fasta.write_text(">A1 Orbulina universa\nacgtacgtta\n")
    proc = _visgen(
        "embed-dna", str(fasta), "--out", str(tmp_path / "x.npz"), "--encoder", "kmer", "--set", "k=9"
    )
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: genetics.encoder.k=9: must be an integer in 3..8")
    proc = _visgen(
        "embed-dna", str(fasta), "--out", str(tmp_path / "x.npz"), "--encoder", "kmer", "--set", "q=1"
    )
    assert proc.returncode == 2 and proc.stderr.startswith(
        "error: --set q=1: use KEY=VALUE with KEY one of k, clr"
    )


def test_chunk_and_memmap_flags_reach_the_streaming_path(tmp_path: Path) -> None:
    fasta = tmp_path / "three.fasta"
    fasta.write_text(
        ">A1 Orbulina universa\nacgtacgtta\n>A2 Candeina nitida\nggcattgac\n>A3 Orbulina universa\nttgca\n"
    )
    plain, chunked = tmp_path / "plain.npz", tmp_path / "chunked.npz"
    assert _visgen("sgt", str(fasta), "--out", str(plain)).returncode == 0
    assert _visgen("sgt", str(fasta), "--out", str(chunked), "--chunk", "2").returncode == 0
    assert plain.read_bytes() == chunked.read_bytes()  # the same file, byte for byte
    rows = tmp_path / "rows.npy"
    proc = _visgen(
        "embed-dna", str(fasta), "--encoder", "kmer", "--out", str(tmp_path / "a.npz"), "--memmap", str(rows)
    )
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "a.npz") as z:
        assert z["species"].tolist() == ["Candeina_nitida", "Orbulina_universa"]
        assert z["counts"].tolist() == [1, 2]
        mean = np.load(rows)[[0, 2]].astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(z["anchors"][1], mean, rtol=1e-6, atol=1e-7)
    proc = _visgen("sgt", str(fasta), "--out", str(tmp_path / "b.npz"), "--chunk", "0")
    assert proc.returncode != 0 and "--chunk 0: must be >= 1" in proc.stderr
