"""species_distances: the taxonomy on real images, the ForamSim generator's tree otherwise; the trainer hands them
to the evaluation callback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.pipeline_fixtures import compose_cfg
from visgen.callbacks.knn_eval import KnnEvalCallback
from visgen.eval.mistakes import taxonomy_distance
from visgen.genetics.species import species_table
from visgen.run.outcomes import species_distances
from visgen.run.trainer import build_trainer
from visgen.sim.trees import kmer_upgma

CLASSES = [
    "Orbulina_universa",
    "Globigerinoides_ruber",
    "Globigerinoides_sacculifer",
    "Globigerina_bulloides",
]


def test_real_images_are_measured_along_the_taxonomy() -> None:
    d = species_distances(compose_cfg(["data=endless_forams", "data.root=/nowhere"]), CLASSES)
    assert d.source == "taxonomy"
    np.testing.assert_array_equal(d.tree, taxonomy_distance(CLASSES))


def test_forams_sim_is_measured_along_the_generator_tree() -> None:
    d = species_distances(compose_cfg(["data=synthetic"]), CLASSES)
    # The generator's tree spans every species of the class table; with unit tip depth the path between two
    # tips is twice the part of a root-to-tip path they do not share: 2 (1 - C_ij).
    names = [s for s, _ in species_table()]
    cov, _, _ = kmer_upgma.species_covariance(names)
    for a, x in enumerate(CLASSES):
        for b, y in enumerate(CLASSES):
            want = 0.0 if a == b else 2.0 * (1.0 - cov[names.index(x), names.index(y)])
            assert d.tree[a, b] == pytest.approx(want, abs=1e-12), (x, y)
    assert d.source == "kmer_upgma"
    assert 0.0 < d.tree[0, 1] < 2.0  # a pair that meets below the root: the case is not all-or-nothing


def test_the_trainer_hands_the_distances_to_the_evaluation_callback(tmp_path: Path) -> None:
    cfg = compose_cfg(["data=synthetic", "trainer.accelerator=cpu", "callbacks.progress_bar=null"])
    d = species_distances(cfg, CLASSES)
    trainer, _ = build_trainer(cfg, "pretrain", tmp_path, tmp_path / "ckpt", 1, d)
    (knn,) = [c for c in trainer.callbacks if isinstance(c, KnnEvalCallback)]
    assert knn.species_distances is d and knn.out_dir == tmp_path


def test_the_errors_follow_whichever_tree_the_generator_used() -> None:
    from visgen.sim import trees

    d = species_distances(compose_cfg(["data=synthetic", "data.sim_tree=aze2011"]), CLASSES)
    names = [s for s, _ in species_table()]
    cov = trees.species_covariance("aze2011", names)
    idx = [names.index(c) for c in CLASSES]
    want = 2.0 * (1.0 - cov[np.ix_(idx, idx)])
    np.fill_diagonal(want, 0.0)
    assert d.source == "aze2011"
    np.testing.assert_allclose(d.tree, want, atol=1e-12)
    assert not np.allclose(d.tree, species_distances(compose_cfg(["data=synthetic"]), CLASSES).tree)
