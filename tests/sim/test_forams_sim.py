"""ForamSim: layout, real counts, splits, determinism across worker counts, trait coupling, cache, CLI."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.distance import pdist, squareform

from visgen.cli import main
from visgen.errors import UserInputError
from visgen.eval.mantel import mantel
from visgen.genetics import divergence
from visgen.genetics.species import species_table
from visgen.sim import forams_sim
from visgen.sim.shells import PUBLISHED, TRAIT_NAMES

SPECIES = [s for s, _ in species_table()]


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sim_005(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference run of the generator benchmark: --scale 0.05 --size 64 --seed 0 (1,394 images), on 2 workers."""
    return forams_sim.simulate(tmp_path_factory.mktemp("a") / "sim", scale=0.05, size=64, seed=0, workers=2)


def test_counts_follow_the_real_table_with_a_floor() -> None:
    real = dict(species_table())
    counts = dict(forams_sim.species_counts(0.05))
    assert list(counts) == SPECIES
    assert counts == {s: max(round(n * 0.05), min(n, 5)) for s, n in real.items()}
    # The floor never exceeds the real count: G. adamsi has 4 real images.
    assert counts["Globigerinoides_ruber"] == 296 and counts["Tenuitella_iota"] == 5
    assert counts["Globigerinella_adamsi"] == 4
    assert sum(n for _, n in forams_sim.species_counts(1.0)) == 27729


@pytest.mark.parametrize("n", [4, 5, 6, 7, 13, 25, 296])
def test_split_labels_keep_every_split(n: int) -> None:
    labels = forams_sim.split_labels(n, np.random.default_rng(n))
    counts = {s: labels.count(s) for s in ("train", "val", "test")}
    assert sum(counts.values()) == n
    assert counts["train"] >= min(n - 2, 3) and counts["val"] >= 1 and counts["test"] >= 1
    if n >= 100:
        assert abs(counts["val"] / n - 0.1) < 0.01 and abs(counts["test"] / n - 0.2) < 0.01


def test_layout_counts_and_manifest(sim_005: Path) -> None:
    folders = sorted(p.name for p in sim_005.iterdir() if p.is_dir())
    assert folders == sorted(SPECIES)
    expected = dict(forams_sim.species_counts(0.05))
    for name in SPECIES:
        files = sorted((sim_005 / name).glob("*.png"))
        assert len(files) == expected[name]
        assert files[0].name == f"{name}_00000.png"
    with Image.open(sim_005 / "Orbulina_universa" / "Orbulina_universa_00000.png") as img:
        assert img.mode == "L" and img.size == (64, 64)
    with open(sim_005 / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(expected.values())
    assert all((sim_005 / r["path"]).is_file() and r["path"].startswith(r["species"] + "/") for r in rows)
    for name in SPECIES:  # every species, the rarest included, is in every split
        assert {r["split"] for r in rows if r["species"] == name} == {"train", "val", "test"}
    assert {"view", "chambers_per_whorl", "coiling", "blur"} <= set(rows[0])
    meta = json.loads((sim_005 / "dataset.json").read_text())
    assert meta["source"] == "forams_sim" and meta["synthetic"] is True
    assert (meta["scale"], meta["size"], meta["seed"], meta["phylo_signal"]) == (0.05, 64, 0, 1.0)
    assert meta["counts"] == expected and meta["generator_version"] == forams_sim.GENERATOR_VERSION
    with Image.open(sim_005 / "contact_sheet.png") as sheet:
        assert sheet.size[1] == 35 * 64  # one row per species


def test_byte_identical_across_runs_and_worker_counts(sim_005: Path, tmp_path: Path) -> None:
    again = forams_sim.simulate(tmp_path / "b", scale=0.05, size=64, seed=0, workers=1)
    assert _tree_bytes(again) == _tree_bytes(sim_005)
    other = forams_sim.simulate(tmp_path / "c", scale=0.001, size=64, seed=1, workers=1)
    a = (sim_005 / "Candeina_nitida" / "Candeina_nitida_00000.png").read_bytes()
    assert (other / "Candeina_nitida" / "Candeina_nitida_00000.png").read_bytes() != a


def test_images_are_bright_shells_on_a_dark_background(sim_005: Path) -> None:
    imgs = np.stack([np.asarray(Image.open(p)) for p in sorted(sim_005.glob("G*/*_00000.png"))]).astype(float)
    border = np.concatenate([imgs[:, :3].ravel(), imgs[:, -3:].ravel(), imgs[:, :, :3].ravel()])
    centre = imgs[:, 24:40, 24:40]
    assert border.mean() < 50 and centre.mean() > 2.5 * border.mean()


def _mantel_to_dna(seed: int, lam: float) -> tuple[float, float]:
    names, latent = forams_sim.species_latents(seed, lam)
    dist, with_dna = divergence.genetic_distances(names)
    idx = [names.index(s) for s in with_dna]
    return mantel(squareform(pdist(latent[idx])), dist, permutations=999, seed=0)


def test_traits_follow_the_18s_distances_only_with_phylo_signal() -> None:
    # Measured over 10 trait draws (seeds 0-9) on the real 32 DNA species: at lambda=1 the mean Mantel r
    # is 0.36 (seed 0: r=0.45, p=0.001; 10 of 10 with p < 0.05); at lambda=0 it is -0.01 (1 of 10 with p < 0.05).
    with_signal = [_mantel_to_dna(s, 1.0) for s in range(10)]
    without = [_mantel_to_dna(s, 0.0) for s in range(10)]
    assert np.mean([r for r, _ in with_signal]) > 0.2
    assert sum(p < 0.05 for _, p in with_signal) >= 7
    assert abs(np.mean([r for r, _ in without])) < 0.1
    assert sum(p < 0.05 for _, p in without) <= 2


def test_cache_reuses_complete_runs_and_redoes_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kw = {"scale": 0.001, "size": 32, "seed": 3, "phylo_signal": 0.5}
    first = forams_sim.simulate_cached(tmp_path, workers=1, **kw)
    assert (first / forams_sim.COMPLETE_MARKER).exists() and first.name.startswith("forams_sim-")
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary folder left behind

    def no_generation(*args: object, **kwargs: object) -> None:
        raise AssertionError("a complete cache entry was regenerated")

    monkeypatch.setattr(forams_sim, "simulate", no_generation)
    assert forams_sim.simulate_cached(tmp_path, workers=2, **kw) == first
    monkeypatch.undo()
    assert forams_sim.simulate_cached(tmp_path, **{**kw, "seed": 4}) != first
    (first / forams_sim.COMPLETE_MARKER).unlink()  # an interrupted run: regenerated, same bytes
    before = _tree_bytes(first)
    assert forams_sim.simulate_cached(tmp_path, workers=1, **kw) == first
    assert _tree_bytes(first) == {
        **before,
        forams_sim.COMPLETE_MARKER: f"{forams_sim.GENERATOR_VERSION}\n".encode(),
    }


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["simulate", "--out", str(out), "--scale", "0.001", "--size", "32", "--workers", "1"]
    assert main([*args, "--phylo-signal", "0"]) == 0
    assert "written to" in capsys.readouterr().out
    assert json.loads((out / "dataset.json").read_text())["phylo_signal"] == 0.0
    assert len(list(out.glob("*/*.png"))) == sum(n for _, n in forams_sim.species_counts(0.001))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scale", "0"], "--scale must be > 0"),
        (["--scale", "-1"], "--scale must be > 0"),
        (["--phylo-signal", "1.5"], "must lie in [0, 1]"),
        (["--phylo-signal", "-0.1"], "must lie in [0, 1]"),
        (["--size", "8"], "--size must lie in"),
        (["--workers", "0"], "--workers must be >= 1"),
        (["--intra-spread", "-0.5"], "--intra-spread must be >= 0"),
        (["--nuisance", "-1"], "--nuisance must be >= 0"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--out", str(tmp_path / "x"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_refuses_a_foreign_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(UserInputError, match="not a ForamSim output"):
        forams_sim.simulate(tmp_path, scale=0.001, size=32, workers=1)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_cache_keeps_a_concurrent_runs_complete_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kw = {"scale": 0.001, "size": 32, "seed": 5}
    target = tmp_path / f"forams_sim-{forams_sim.cache_key(**kw)}"
    real_simulate = forams_sim.simulate

    def racing_simulate(out_dir: Path, **kwargs: object) -> Path:
        # Another process finishes the same dataset while this one is still generating.
        real_simulate(target, **kwargs)
        (target / forams_sim.COMPLETE_MARKER).write_text("other\n")
        return real_simulate(out_dir, **kwargs)

    monkeypatch.setattr(forams_sim, "simulate", racing_simulate)
    assert forams_sim.simulate_cached(tmp_path, workers=1, **kw) == target
    assert (target / forams_sim.COMPLETE_MARKER).read_text() == "other\n"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # our temporary copy is gone


def _manifest(root: Path) -> dict[str, dict[str, str]]:
    with open(root / "manifest.csv", newline="") as fh:
        return {row["path"]: row for row in csv.DictReader(fh)}


def _species_whose_images_differ(a: Path, b: Path) -> set[str]:
    rows_a, rows_b = _manifest(a), _manifest(b)
    assert rows_a.keys() == rows_b.keys()
    return {r["species"] for p, r in rows_b.items() if (a / p).read_bytes() != (b / p).read_bytes()}


def test_test_floor_only_adds_flagged_test_images(tmp_path: Path) -> None:
    kw = {"scale": 0.001, "size": 32, "seed": 2, "workers": 1}
    base = forams_sim.simulate(tmp_path / "base", **kw)
    floored = forams_sim.simulate(tmp_path / "floored", test_floor=3, **kw)

    before, after = _manifest(base), _manifest(floored)
    # The long-tailed images (train, val, proportional test) are the same files with the same rows.
    assert {p: r for p, r in after.items() if r["extra_test"] == "0"} == before
    for rel in before:
        assert (floored / rel).read_bytes() == (base / rel).read_bytes()
    extras = {p for p, r in after.items() if r["extra_test"] == "1"}
    assert all(after[p]["split"] == "test" for p in extras)
    for name in SPECIES:  # every species now has at least 3 test images, and no more extras than that needs
        tests = [r for r in after.values() if r["species"] == name and r["split"] == "test"]
        base_tests = sum(1 for r in before.values() if r["species"] == name and r["split"] == "test")
        assert len(tests) == max(3, base_tests)
    meta = json.loads((floored / "dataset.json").read_text())
    assert meta["counts"] == json.loads((base / "dataset.json").read_text())["counts"]  # the long tail
    assert meta["test_floor"] == 3 and sum(meta["extra_test"].values()) == len(extras) > 0
    assert meta["n_images"] == len(after)
    # The floor is part of the cache key: a floored dataset is never served for an unfloored config.
    assert forams_sim.cache_key(scale=0.001, test_floor=3) != forams_sim.cache_key(scale=0.001)


def test_test_floor_must_be_a_non_negative_integer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--out", str(tmp_path / "x"), "--test-floor", "-1"]) == 2
    assert "--test-floor must be an integer >= 0" in capsys.readouterr().err
    with pytest.raises(UserInputError, match="--test-floor must be an integer"):
        forams_sim.simulate(tmp_path / "y", scale=0.001, size=32, test_floor=2.5)  # type: ignore[arg-type]


def test_the_cache_key_hashes_the_generator_version_and_every_setting() -> None:
    # The quick profile's dataset, hashed by hand: every SimSettings field, defaults included (no field is left
    # out at a "neutral" value any more, so caches made before visgen/sim/settings.py regenerate once).
    kw = {"scale": 0.1, "size": 64, "seed": 0, "phylo_signal": 1.0, "intra_spread": 0.3, "nuisance": 0.5}
    full = {
        **kw,
        "test_floor": 20,
        "published": True,
        "convergent": 0,
        "convergent_skip": 0,
        "tree": "kmer_upgma",
        "version": forams_sim.GENERATOR_VERSION,
    }
    by_hand = hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()[:16]
    assert forams_sim.cache_key(**kw, test_floor=20) == by_hand
    assert forams_sim.cache_key(**kw, test_floor=20, convergent=0) == by_hand
    for knob, value in (
        ("convergent", 2),
        ("convergent_skip", 1),
        ("seed", 1),
        ("nuisance", 0.6),
        ("published", False),
        ("tree", "aze2011"),
    ):
        assert forams_sim.cache_key(**{**kw, "test_floor": 20, knob: value}) != by_hand, knob


def test_convergent_rare_species_take_their_partners_looks_and_nothing_else_changes(tmp_path: Path) -> None:
    kw = {"scale": 0.002, "size": 32, "seed": 3, "workers": 1, "intra_spread": 0.3}
    base = forams_sim.simulate(tmp_path / "base", **kw)
    conv = forams_sim.simulate(tmp_path / "conv", convergent=2, **kw)
    meta = json.loads((conv / "dataset.json").read_text())
    pairs = meta["convergent_pairs"]
    assert meta["convergent"] == 2 and list(pairs) == ["Globigerinita_uvula", "Tenuitella_iota"]
    assert json.loads((base / "dataset.json").read_text())["convergent"] == 0

    before, after = _manifest(base), _manifest(conv)
    assert _species_whose_images_differ(base, conv) == set(pairs)  # only the look-alikes' images differ

    def mean_traits(rows: dict[str, dict[str, str]], species: str) -> np.ndarray:
        vals = [
            [float(r[k]) for k in TRAIT_NAMES if k in r] for r in rows.values() if r["species"] == species
        ]
        return np.mean(vals, axis=0)

    for rare, partner in pairs.items():
        gap_before = np.abs(mean_traits(before, rare) - mean_traits(before, partner)).sum()
        gap_after = np.abs(mean_traits(after, rare) - mean_traits(after, partner)).sum()
        assert gap_after < 0.5 * gap_before


def test_without_published_morphology_only_those_species_change_and_follow_their_brownian_traits(
    tmp_path: Path,
) -> None:
    kw = {"scale": 0.002, "size": 32, "seed": 3, "workers": 1, "phylo_signal": 0.0}
    base = forams_sim.simulate(tmp_path / "base", **kw)
    plain = tmp_path / "plain"  # through the command line: the flag comes from the SimSettings field
    flags = ["--scale", "0.002", "--size", "32", "--seed", "3", "--workers", "1", "--phylo-signal", "0"]
    assert main(["simulate", "--out", str(plain), *flags, "--no-published"]) == 0
    assert json.loads((plain / "dataset.json").read_text())["published"] is False

    before, after = _manifest(base), _manifest(plain)
    # The 15 species with published shapes, nothing else.
    assert _species_whose_images_differ(base, plain) == set(PUBLISHED) & set(SPECIES)
    orbulina = [r for r in after.values() if r["species"] == "Orbulina_universa"]
    assert all(float(r["final_sphere"]) == 0.0 for r in orbulina)
    for path, row in after.items():  # every specimen keeps its pose, light and Brownian traits ...
        assert row["view"] == before[path]["view"] and row["rotation"] == before[path]["rotation"]
        overridden = PUBLISHED.get(row["species"], {})
        for trait in TRAIT_NAMES:  # ... and only the published traits move (the manifest's traits)
            if trait in row and trait not in overridden:
                assert row[trait] == before[path][trait], (path, trait)


def test_convergent_must_be_a_small_non_negative_integer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--out", str(tmp_path / "x"), "--convergent", "9"]) == 2
    assert "--convergent must be an integer in [0, 8]" in capsys.readouterr().err


def test_convergent_skip_makes_medium_species_the_look_alikes(tmp_path: Path) -> None:
    kw = {"scale": 0.002, "size": 32, "seed": 3, "workers": 1, "intra_spread": 0.3}
    base = forams_sim.simulate(tmp_path / "base", **kw)
    medium = forams_sim.simulate(tmp_path / "medium", convergent=2, convergent_skip=14, **kw)
    meta = json.loads((medium / "dataset.json").read_text())
    # The 15th and 16th rarest species with DNA (273 and 303 real images; the 14 rarer ones are skipped).
    assert list(meta["convergent_pairs"]) == ["Globigerinoides_elongatus", "Turborotalita_quinqueloba"]
    assert meta["convergent_skip"] == 14
    with open(medium / "manifest.csv", newline="") as fh:
        paths = [row["path"] for row in csv.DictReader(fh)]
    changed = {p.split("/")[0] for p in paths if (medium / p).read_bytes() != (base / p).read_bytes()}
    assert changed == set(meta["convergent_pairs"])  # only the medium look-alikes' images differ
    quick = {"scale": 0.1, "size": 64, "seed": 0, "phylo_signal": 1.0, "intra_spread": 0.3, "nuisance": 0.5}
    key = forams_sim.cache_key(**quick, test_floor=20, convergent=4)
    assert forams_sim.cache_key(**quick, test_floor=20, convergent=4, convergent_skip=0) == key
    assert forams_sim.cache_key(**quick, test_floor=20, convergent=4, convergent_skip=14) != key


def test_convergent_skip_must_leave_the_partners_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["simulate", "--out", str(tmp_path / "x"), "--convergent", "4", "--convergent-skip", "21"]) == 2
    )
    err = capsys.readouterr().err
    assert "--convergent-skip + --convergent must be <= 24 (the look-alikes lie below the 8 largest" in err
    assert main(["simulate", "--out", str(tmp_path / "x"), "--convergent-skip", "-1"]) == 2
    assert "--convergent-skip must be an integer >= 0, got -1" in capsys.readouterr().err
