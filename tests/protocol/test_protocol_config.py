"""protocol=authors sets the authors' switches together; ours leaves every default and cache key as it was."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tests.pipeline_fixtures import compose_cfg
from visgen.errors import UserInputError
from visgen.lit.align import SAMPLINGS
from visgen.models.backbone import HEADS
from visgen.run import checks
from visgen.run.cache import config_hash, pretrain_relevant
from visgen.run.pipeline import protocol_facts


def test_protocol_authors_sets_every_switch_and_ours_keeps_the_defaults() -> None:
    ours = compose_cfg(["+experiment=ltr_align"])
    authors = compose_cfg(["+experiment=ltr_align", "protocol=authors"])
    assert protocol_facts(ours) == {
        "protocol": "ours", "selection": "val", "head": "linear", "align_sampling": "m_per_class",
        "greyscale": True, "weights": None,
    }  # fmt: skip
    assert protocol_facts(authors) == {
        "protocol": "authors", "selection": "test", "head": "two_layer",
        "align_sampling": "instance_uniform_negative", "greyscale": True, "weights": None,
    }  # fmt: skip
    assert authors.model.net.head == "two_layer"  # what EmbeddingNet receives


def test_authors_rows_are_the_claims_rows_under_protocol_authors() -> None:
    for row in ("ltr", "ltr_align"):
        named = compose_cfg([f"+experiment={row}_authors"])
        switched = compose_cfg([f"+experiment={row}", "protocol=authors"])
        assert named.name == f"{row}_authors"
        named.name = row
        assert OmegaConf.to_container(named, resolve=True) == OmegaConf.to_container(switched, resolve=True)


def test_the_authors_pretraining_has_its_own_cache_key_and_alignment_rows_share_theirs() -> None:
    ltr = pretrain_relevant(compose_cfg(["+experiment=ltr"]))
    assert (
        ltr["model"]["net"]["head"] == "linear"
        and ltr["selection"] == "val"
        and ltr["data"]["greyscale"] is True
    )
    keys = {r: config_hash(pretrain_relevant(compose_cfg([f"+experiment={r}"]))) for r in (
        "ltr", "ltr_align", "ltr_authors", "ltr_align_authors")}  # fmt: skip
    assert keys["ltr"] == keys["ltr_align"] and keys["ltr_authors"] == keys["ltr_align_authors"]
    assert keys["ltr"] != keys["ltr_authors"]
    # Each switch alone is part of the key: a test-selected checkpoint is another pretraining.
    for override in ("selection=test", "model.head=two_layer"):
        assert config_hash(pretrain_relevant(compose_cfg(["+experiment=ltr", override]))) != keys["ltr"]


def test_checks_know_the_same_choices_as_the_code() -> None:
    assert checks.HEADS == HEADS and checks.SAMPLINGS == SAMPLINGS


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("selection=train", "selection=train: unknown value; use one of val, test"),
        ("model.head=mlp", "model.head=mlp: unknown value; use one of linear, two_layer"),
        ("align.sampling=pairs", "align.sampling=pairs: unknown value"),
        ("data.greyscale=false", "data.greyscale=False: images are always decoded to grey"),
    ],
)
def test_a_bad_protocol_switch_is_one_line_before_anything_is_built(override: str, message: str) -> None:
    cfg = compose_cfg(["+experiment=ltr_align", override])
    with pytest.raises(UserInputError, match=message.replace("(", r"\(")):
        checks.check_config(cfg)
