"""``data.sim_tree`` / ``--tree``: the default keeps every image, aze2011 makes the traits follow the fossil tree."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visgen.cli import build_parser
from visgen.errors import UserInputError
from visgen.genetics.species import known_species, species_table
from visgen.report.header import describe_data
from visgen.results import RunRecord
from visgen.run.checks import check_config
from visgen.sim import convergence, forams_sim, trees
from visgen.sim import settings as sim_settings
from visgen.sim.oracle import oracle_anchors

SPECIES = [s for s, _ in species_table()]


def _digests(root: Path) -> tuple[str, str]:
    """sha256 (16 hex) of the decoded pixels of every PNG (sorted by path) and of manifest.csv."""
    h = hashlib.sha256()
    for p in sorted(root.glob("*/*.png")):
        h.update(str(p.relative_to(root)).encode())
        h.update(np.asarray(Image.open(p)).tobytes())
    return h.hexdigest()[:16], hashlib.sha256((root / "manifest.csv").read_bytes()).hexdigest()[:16]


def test_the_default_tree_keeps_the_images_of_the_generator_before_the_setting(tmp_path: Path) -> None:
    # Digests of `simulate(scale=0.02, size=32, seed=0, workers=1)` (601 images) written by the generator
    # before the tree setting existed (commit 4ea791e), on the 2-core VM.
    out = forams_sim.simulate(tmp_path / "sim", scale=0.02, size=32, seed=0, workers=2)
    assert _digests(out) == ("47af1141ccc617bc", "3856bd890386dfa3")
    assert json.loads((out / "dataset.json").read_text())["tree"] == "kmer_upgma"


def test_the_aze_tree_changes_the_images_and_is_recorded(tmp_path: Path) -> None:
    kw = {"scale": 0.001, "size": 32, "seed": 0, "workers": 1}
    base = forams_sim.simulate(tmp_path / "base", **kw)
    aze = forams_sim.simulate(tmp_path / "aze", tree="aze2011", **kw)
    assert json.loads((aze / "dataset.json").read_text())["tree"] == "aze2011"
    assert _digests(aze)[1] != _digests(base)[1]


def test_a_changed_tree_changes_the_cache_key() -> None:
    base = forams_sim.cache_key(scale=0.01)
    assert forams_sim.cache_key(scale=0.01, tree="kmer_upgma") == base
    assert forams_sim.cache_key(scale=0.01, tree="aze2011") != base


def test_the_tree_is_a_command_line_flag_a_config_key_and_range_checked() -> None:
    ns = build_parser().parse_args(["simulate", "--out", "x", "--tree", "aze2011"])
    assert sim_settings.from_namespace(ns)["tree"] == "aze2011"
    assert sim_settings.config_keys()["sim_tree"] == "tree"
    with pytest.raises(UserInputError, match=r"--tree must be one of .*aze2011.*, got 'nj'"):
        sim_settings.check_args("visgen simulate --out x", tree="nj")
    cfg = {"seed": 0, "stages": ["pretrain"], "trainer": {}, "data": {"source": "forams_sim", "sim_tree": 3}}
    with pytest.raises(UserInputError, match=r"config: data.sim_tree must be one of .*kmer_upgma.*, got 3"):
        check_config(cfg)


def test_the_report_header_names_a_tree_other_than_the_default(tmp_path: Path) -> None:
    data = {"source": "forams_sim", "phylo_signal": 1.0, "scale": 0.1, "size": 64, "tree": "kmer_upgma"}
    assert "tree" not in describe_data([RunRecord(tmp_path, "ltr", "quick", 0, status="ok", data=data)])
    data["tree"] = "aze2011"
    assert "aze2011 species tree" in describe_data([RunRecord(tmp_path, "ltr", "quick", 0, data=data)])


def test_with_aze2011_the_traits_have_the_aze_covariance() -> None:
    # 300 trait draws x the traits per draw: the sample covariance of the species traits is the Aze tree's.
    draws = np.concatenate([forams_sim.species_latents(s, 1.0, "aze2011")[1] for s in range(300)], axis=1)
    sample = draws @ draws.T / draws.shape[1]
    aze = trees.species_covariance("aze2011", SPECIES)
    kmer = trees.species_covariance("kmer_upgma", SPECIES)
    assert np.abs(sample - aze).max() < 0.1 < np.abs(sample - kmer).max()  # measured 0.04 and 0.93
    i = SPECIES.index
    menardii, tumida, ruber = i("Globorotalia_menardii"), i("Globorotalia_tumida"), i("Globigerinoides_ruber")
    assert sample[menardii, tumida] > sample[menardii, ruber] + 0.5


def test_the_oracle_and_the_look_alikes_use_the_generators_tree() -> None:
    aze = trees.species_covariance("aze2011", SPECIES)
    dna = known_species()[1]
    rows = [SPECIES.index(n) for n in dna]
    got = oracle_anchors("oracle_tree", dna, seed=0, phylo_signal=1.0, intra_spread=0.3, tree="aze2011")
    np.testing.assert_allclose(got @ got.T, aze[np.ix_(rows, rows)], atol=1e-9)
    names, latents = forams_sim.species_latents(0, 1.0, "aze2011")
    _, pairs = forams_sim.convergent_species(0, names, latents, 4, 0.5, tree="aze2011")
    counts = [n for _, n in species_table()]
    assert pairs == convergence.convergent_pairs(names, counts, aze, 4, eligible=dna)
    traits = oracle_anchors(
        "oracle_traits", names, seed=0, phylo_signal=1.0, intra_spread=0.5, convergent=4, tree="aze2011"
    )
    np.testing.assert_array_equal(
        traits, forams_sim.convergent_species(0, names, latents, 4, 0.5, tree="aze2011")[0]
    )
