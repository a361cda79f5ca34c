"""Bad GZSL / k-shot input is one exact error line from check_config, before anything is built."""

from __future__ import annotations

import pytest

from tests.pipeline_fixtures import compose_cfg
from visgen.errors import UserInputError
from visgen.run.checks import check_config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["data.unseen_fold=null", "data.unseen=[Globorotalia_crassaformis]"],
            "data.unseen=[Globorotalia_crassaformis]: Globorotalia_crassaformis has no DNA, so nothing could "
            "recognise it unseen; hold out species with 18S sequences",
        ),
        (
            ["data.unseen_fold=null", "data.unseen=[Orbulina_universe]"],
            "data.unseen=[Orbulina_universe]: unknown species (did you mean 'Orbulina_universa'?); use Genus_species",
        ),
        (
            ["data.unseen_fold=8"],
            "data.unseen_fold=8: out of range for data.unseen_folds=8; use 0..7",
        ),
        (
            ["data.unseen_fold=null", "data.unseen=[Beella_digitata]", "data.shots=4"],
            "data.shots=4: Beella_digitata has only 3 training images at data.scale=0.1; use data.shots<=3",
        ),
        (
            ["data.unseen=[Orbulina_universa]"],
            "data.unseen_fold=0: data.unseen is also set; give the species list or a fold, not both",
        ),
        (
            ["data.unseen_fold=null"],
            "stages=[..., gzsl]: no species held out; set data.unseen=[...] or data.unseen_fold=i",
        ),
        (
            ["data=endless_forams", "data.unseen_fold=0"],
            "gzsl.anchors=[oracle_traits]: oracle anchors exist only for a generated data set (ForamSim knows "
            "each species' traits and tree; data.source=folder does not); drop them for real images",
        ),
        (
            ["gzsl.anchors=[sgt_raw, oracle]", "gzsl.permutation.anchors=[sgt_raw]"],
            "gzsl.anchors=[oracle]: unknown anchor; use any of oracle_traits, oracle_tree, sgt_raw, sgt_centred, "
            "sgt_whitened, tower, shuffled, random, equiangular, or encoders for every rung of gzsl.encoders",
        ),
        (["gzsl.permutation.n=-5"], "gzsl.permutation.n=-5: must be an integer >= 0"),
        (["stages=[gzsl]"], "stages=['gzsl']: gzsl scores a pretrained trunk; use [pretrain, gzsl]"),
        (
            ["profile=paper", "data.batch_size=256"],
            "data.batch_size=256: with data.m_per_class=8 a batch needs 32 species, but only 28 have training "
            "images once 4 are held out; use data.batch_size=224",
        ),
    ],
)
def test_each_bad_gzsl_input_is_one_exact_error_line(overrides: list[str], message: str) -> None:
    with pytest.raises(UserInputError) as err:
        check_config(compose_cfg(["+experiment=gzsl", *overrides]))
    assert str(err.value) == message


def test_the_shipped_gzsl_fold_and_a_fitting_shot_count_pass() -> None:
    check_config(compose_cfg(["+experiment=gzsl_kshot", "data.unseen_fold=3"]))
    paper = compose_cfg(["+experiment=gzsl", "profile=paper"])
    check_config(paper)
    assert paper.data.batch_size == 224 and compose_cfg(["+experiment=gzsl"]).data.batch_size == 64
    check_config(compose_cfg(["+experiment=gzsl_kshot", "profile=paper"]))  # k-shot: all 32 species train
