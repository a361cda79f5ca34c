"""ForamSim: a synthetic, long-tailed, phylogeny-coupled planktic foraminifera image set.

``simulate`` writes the real Endless Forams layout (one folder per species, 8-bit greyscale PNGs)
plus ``manifest.csv`` (path, species, split, specimen parameters), ``dataset.json`` and
``contact_sheet.png``. Species and their counts are the real 35 of ``endless_forams_classes.csv``
(scale 1.0 = 27,729 images). Species traits are Brownian motion along a species tree with Pagel's lambda
``phylo_signal`` (``traits.py``); the tree source is ``tree`` (``trees/``: by default ``kmer_upgma``, UPGMA on the
real 18S sequences; ``aze2011``, the fossil morphospecies tree). Shells are drawn by ``render.py``.

Test floor (``test_floor`` = K > 0): a species whose proportional test split holds fewer than K images
gets extra TEST images up to K, drawn like the others but beyond its long-tailed count. They are
flagged ``extra_test = 1`` in the manifest; the long-tailed images (train, val, proportional test) are
byte-identical to those of ``test_floor = 0``. The point: at scale 0.1 the nine rare species have 13
test images in all, so one image moves rare accuracy by 6–11 pp; a simulator can afford to measure
the tail precisely where the real data cannot. The KNN evaluation counts extra images in the
per-class, rare and bucket accuracies only; overall accuracy stays over the proportional split.

Convergent evolution (``convergent`` = K > 0, ``convergence.py``): the K rarest species (after skipping
``convergent_skip`` of them) take the traits and published morphology of a common, genetically distant species plus a small offset, while
their DNA stays put — look-alikes that genetic anchors could tell apart. Off by default; at 0 the
images are byte-identical to the generator without the knob.

Published morphology (``published``, on by default): 15 species get their diagnostic shapes from
``shells.PUBLISHED``, which follow the taxonomy at every ``phylo_signal``. ``published=False`` keeps every
random draw and drops those overrides, so at ``phylo_signal`` 0 nothing in the images follows the tree.

Determinism: every image has its own generator seeded from ``(seed, species index, image index)``
and the noise tiles depend on ``seed`` only, so the bytes written do not depend on the number of
worker processes or on the order in which they finish.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from visgen.errors import UserInputError
from visgen.genetics.species import known_species, species_table
from visgen.sim import convergence, traits, trees
from visgen.sim.contact_sheet import write_contact_sheet
from visgen.sim.render import Textures, render_specimen
from visgen.sim.settings import (
    DEFAULT_INTRA_SPREAD,
    DEFAULT_NUISANCE,
    SimSettings,
    cache_fields,
    check_args,
)
from visgen.sim.shells import TRAIT_NAMES, sample_specimen

log = logging.getLogger(__name__)

# Bump whenever the pixels or the manifest for a given config change: it is part of the cache key.
GENERATOR_VERSION = "2"
# Floor per species: 3 train + 1 val + 1 test, capped at the real count so that scale 1.0 reproduces
# the real 27,729 exactly (Globigerinella adamsi has 4 real images: 2 train + 1 val + 1 test).
MIN_PER_SPECIES = 5
SPLIT_FRACTIONS = {"val": 0.1, "test": 0.2}  # the rest is train
CHUNK = 128  # images per worker task: small enough to balance two cores, large enough to amortise IPC
COMPLETE_MARKER = ".complete"

# Difficulty knobs, calibrated against the training pipeline (experiments/forams_sim_difficulty/README.md).
# intra_spread: specimen jitter of every latent trait, in units of the between-species spread (1).
#   Perfect perception (a logistic regression on the TRUE traits, scale 0.3) scores overall / per-class /
#   rare 0.97/0.87/0.69 at 0.7 and 0.95/0.80/0.58 at 0.8, but images hide much of that: the quick profile
#   (ResNet18, 64 px, scale 0.1, 8 epochs, SGD lr 0.1) measured 35 % overall KNN accuracy at 0.8, 52 % at
#   0.5 and 59 % at 0.3. 0.5 keeps close relatives confusable and rare species far below the overall
#   accuracy while leaving the long-tail effects measurable in 15 CPU minutes.
# nuisance: multiplier on view tilt, scale, lighting, blur, sensor noise and debris (0 = studio images).
# The defaults (DEFAULT_INTRA_SPREAD, DEFAULT_NUISANCE) are fields of visgen/sim/settings.py's SimSettings.
__all__ = [
    "DEFAULT_INTRA_SPREAD",
    "DEFAULT_NUISANCE",
    "SimSettings",
    "cache_key",
    "simulate",
    "simulate_cached",
]


def species_counts(scale: float) -> list[tuple[str, int]]:
    """Images per species at ``scale``: ``max(round(n * scale), min(n, MIN_PER_SPECIES))``, real table order."""
    return [(s, max(round(n * scale), min(n, MIN_PER_SPECIES))) for s, n in species_table()]


def species_latents(
    seed: int, phylo_signal: float, tree: str = trees.DEFAULT
) -> tuple[list[str], np.ndarray]:
    """Latent species traits: Brownian motion along the species tree with Pagel's lambda.

    Args:
        tree: the tree source (a name of ``visgen.sim.trees.TREES.names()``; default the 18S k-mer UPGMA tree).

    Returns:
        ``(species [35], latent [35, len(TRAIT_NAMES)])``.
    """
    names = [s for s, _ in species_table()]
    cov = trees.species_covariance(tree, names)
    rng = np.random.default_rng([seed, 0xB405])
    return names, traits.brownian_traits(traits.pagel_lambda(cov, phylo_signal), len(TRAIT_NAMES), rng)


def convergent_species(
    seed: int,
    names: list[str],
    latents: np.ndarray,
    k: int,
    intra_spread: float,
    skip: int = 0,
    tree: str = trees.DEFAULT,
) -> tuple[np.ndarray, dict[str, str]]:
    """Apply ``convergence``'s K look-alike pairs to ``species_latents``' output (K = 0: unchanged).

    ``tree`` is the generator's tree source: the partners are distant on the tree the traits evolved along.

    Returns:
        ``(latents [35, T], {rare_species: partner})``.
    """
    if k == 0:
        return latents, {}
    cov = trees.species_covariance(tree, names)
    counts = [n for _, n in species_table()]
    pairs = convergence.convergent_pairs(names, counts, cov, k, eligible=known_species()[1], skip=skip)
    rng = np.random.default_rng([seed, 0xC0417])
    return convergence.converge_latents(latents, names, pairs, intra_spread, rng), pairs


def split_labels(n: int, rng: np.random.Generator) -> list[str]:
    """A seeded ~70/10/20 train/val/test assignment of ``n >= 4`` images, each split non-empty."""
    n_val = max(1, round(SPLIT_FRACTIONS["val"] * n))
    n_test = max(1, round(SPLIT_FRACTIONS["test"] * n))
    labels = np.array(["train"] * (n - n_val - n_test) + ["val"] * n_val + ["test"] * n_test)
    return rng.permutation(labels).tolist()


def species_splits(seed: int, s_idx: int, n: int) -> list[str]:
    """The split of species number ``s_idx``'s ``n`` images in draw ``seed`` (before the test floor's extras)."""
    return split_labels(n, np.random.default_rng([seed, s_idx, 0x5B11]))


def train_counts(scale: float, seed: int) -> dict[str, int]:
    """Training images per species that ``simulate`` writes at ``scale`` in draw ``seed``, without writing any."""
    return {
        name: species_splits(seed, s_idx, n).count("train")
        for s_idx, (name, n) in enumerate(species_counts(scale))
    }


def extra_test_count(splits: Sequence[str], test_floor: int) -> int:
    """Extra test images that lift a species' test split (``splits``) to ``test_floor``."""
    return max(0, int(test_floor) - sum(1 for s in splits if s == "test"))


class _Task(NamedTuple):
    """One worker job: images ``start..stop-1`` of species ``s_idx``."""

    out_dir: str
    size: int
    seed: int
    s_idx: int
    name: str
    look: str  # the species whose published morphology the shells take (``name``, or a convergent partner)
    latent: np.ndarray  # [len(TRAIT_NAMES)]
    splits: list[str]  # split of every image of the species, extra test images last
    n_base: int  # images of the long-tailed count; images n_base.. are the test floor's extras
    start: int
    stop: int
    intra_spread: float
    nuisance: float
    published: bool


_TEXTURES: dict[tuple[int, int], Textures] = {}


def _render_chunk(task: _Task) -> list[dict[str, float | int | str]]:
    """Worker: render and write the task's images; return their manifest rows in image order."""
    key = (task.size, task.seed)
    if key not in _TEXTURES:
        _TEXTURES[key] = Textures(task.size, task.seed)
    tex = _TEXTURES[key]
    rows = []
    for i in range(task.start, task.stop):
        rng = np.random.default_rng([task.seed, task.s_idx, i])
        sp = sample_specimen(
            task.look, task.latent, rng, intra_spread=task.intra_spread, nuisance=task.nuisance,
            published=task.published,
        )  # fmt: skip
        rel = f"{task.name}/{task.name}_{i:05d}.png"
        # compress_level=0 (stored): sensor noise leaves deflate only ~35 % to save, at 3x the time of
        # the whole PNG write; 16.6 kB per 128-px image, ~460 MB at full scale.
        Image.fromarray(render_specimen(sp, task.size, tex, rng), mode="L").save(
            Path(task.out_dir) / rel, compress_level=0
        )
        extra = int(i >= task.n_base)
        rows.append(
            {"path": rel, "species": task.name, "split": task.splits[i], "extra_test": extra, **sp.row()}
        )
    return rows


def _prepare_out_dir(out_dir: Path, species: Sequence[str]) -> None:
    """Create ``out_dir``; clear a previous ForamSim output there, refuse any other non-empty folder."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / "dataset.json").exists():
            raise UserInputError(
                f"{out_dir}: folder is not empty and is not a ForamSim output; choose an empty --out"
            )
        # A previous run at another scale would leave stale images behind and break byte-identity.
        for name in species:
            shutil.rmtree(out_dir / name, ignore_errors=True)
    for name in species:
        (out_dir / name).mkdir(parents=True, exist_ok=True)


def simulate(out_dir: str | Path, *, workers: int | None = None, **settings: Any) -> Path:
    """Generate ForamSim into ``out_dir`` (see the module docstring for the layout).

    Args:
        out_dir: output folder; created, or a previous ForamSim output there is replaced.
        workers: processes; default all cores. The output does not depend on it.
        **settings: ``SimSettings`` fields (visgen/sim/settings.py: scale, size, seed, phylo_signal,
            intra_spread, nuisance, test_floor, published, convergent, convergent_skip, tree); the rest at their
            defaults.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        UserInputError: a setting is out of range or ``out_dir`` holds something else.
    """
    out_dir = Path(out_dir)
    check_args(f"visgen simulate --out {out_dir}", workers=workers, **settings)
    cfg = SimSettings(**settings)
    scale, size, seed, test_floor = cfg.scale, cfg.size, cfg.seed, cfg.test_floor
    intra_spread, nuisance = cfg.intra_spread, cfg.nuisance
    counts = species_counts(scale)
    names, latents = species_latents(seed, cfg.phylo_signal, cfg.tree)
    latents, look_alike = convergent_species(
        seed, names, latents, cfg.convergent, intra_spread, cfg.convergent_skip, cfg.tree
    )
    _prepare_out_dir(out_dir, names)
    tasks = []
    extras: dict[str, int] = {}
    for s_idx, (name, n_base) in enumerate(counts):
        splits = species_splits(seed, s_idx, n_base)
        extras[name] = extra_test_count(splits, test_floor)
        splits += ["test"] * extras[name]
        n = len(splits)
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            tasks.append(
                _Task(
                    str(out_dir),
                    size,
                    seed,
                    s_idx,
                    name,
                    look_alike.get(name, name),
                    latents[s_idx],
                    splits,
                    n_base,
                    start,
                    stop,
                    intra_spread,
                    nuisance,
                    cfg.published,
                )
            )
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        chunks = [_render_chunk(t) for t in tasks]
    else:
        # fork where the platform has it: a spawned worker re-imports numpy/scipy/PIL (~1 s of CPU each,
        # a fifth of a small run). Forking a parent that holds torch/OpenMP threads is safe here because
        # the workers only run numpy and Pillow, never the parent's thread pools.
        method = "fork" if "fork" in get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(workers, mp_context=get_context(method)) as pool:
            chunks = list(pool.map(_render_chunk, tasks))
    rows = [row for chunk in chunks for row in chunk]
    with open(out_dir / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    meta = {
        "source": "forams_sim",
        "synthetic": True,
        "generator_version": GENERATOR_VERSION,
        **cache_fields(cfg),  # every setting, so a report header can name each (visgen/report/header.py)
        "n_images": len(rows),
        # The long tail: images per species before the test floor's extras (these set the shot buckets).
        "counts": dict(counts),
        "extra_test": {k: v for k, v in extras.items() if v},
    }
    if cfg.convergent:
        meta["convergent_pairs"] = look_alike
    (out_dir / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    write_contact_sheet(out_dir, names, out_dir / "contact_sheet.png")
    log.info(
        "ForamSim: %d images of %d species written to %s (%d extra test images for test_floor %d)",
        len(rows), len(names), out_dir, sum(extras.values()), test_floor,
    )  # fmt: skip
    return out_dir


def cache_key(**settings: Any) -> str:
    """Short hash of everything that changes the output: the generator version and every ``SimSettings`` field."""
    config = {"version": GENERATOR_VERSION, **cache_fields(SimSettings(**settings))}
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def simulate_cached(cache_root: str | Path, *, workers: int | None = None, **config: Any) -> Path:
    """``simulate`` into ``cache_root/forams_sim-<hash>/``, reusing it when a previous run completed.

    The data is generated in a temporary sibling folder that is renamed into place only after the
    completion marker is written, so an interrupted run never looks complete.

    Args:
        cache_root: folder holding the cached datasets.
        workers: processes for a fresh generation.
        **config: ``SimSettings`` fields (visgen/sim/settings.py).

    Returns:
        The dataset folder.
    """
    target = Path(cache_root) / f"forams_sim-{cache_key(**config)}"
    if (target / COMPLETE_MARKER).exists():
        log.info("ForamSim: reusing %s", target)
        return target
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    simulate(tmp, workers=workers, **config)
    (tmp / COMPLETE_MARKER).write_text(GENERATOR_VERSION + "\n")
    if target.exists() and not (target / COMPLETE_MARKER).exists():
        shutil.rmtree(target, ignore_errors=True)  # an interrupted run's leftover
    try:
        tmp.rename(target)
    except OSError:
        # A concurrent run renamed its complete copy into place first (rename onto a non-empty folder
        # fails); its bytes equal ours, so keep it.
        if not (target / COMPLETE_MARKER).exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return target
