"""The GZSL stage's tree oracle follows the generator's tree named by ``data.sim_tree``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.pipeline_fixtures import compose_cfg
from visgen.genetics.species import known_species, species_table
from visgen.run.gzsl import ladder_anchors
from visgen.sim import trees


@pytest.mark.parametrize("tree", ["kmer_upgma", "aze2011"])
def test_the_tree_oracle_has_the_covariance_of_the_configured_tree(tree: str, tmp_path: Path) -> None:
    cfg = compose_cfg(
        ["+experiment=gzsl", f"data.sim_tree={tree}", "gzsl.anchors=[oracle_tree]", f"cache_dir={tmp_path}"]
    )
    dna = known_species()[1]
    got = ladder_anchors(cfg, dna, 0)["oracle_tree"]
    names = [s for s, _ in species_table()]
    rows = [names.index(n) for n in dna]
    cov = trees.species_covariance(tree, names)[np.ix_(rows, rows)]
    np.testing.assert_allclose(got @ got.T, cov, atol=1e-9)
