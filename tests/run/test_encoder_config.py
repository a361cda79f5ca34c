"""Choosing a DNA encoder on the command line: genetics/encoder=<name>, its overrides, and gzsl.encoders."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from visgen.errors import UserInputError
from visgen.eval.zeroshot import ladder_names
from visgen.genetics.encoders import ENCODERS
from visgen.genetics.encoders.aligned import AlignedEncoder
from visgen.genetics.encoders.kmer import KmerEncoder
from visgen.genetics.encoders.sgt import SgtEncoder
from visgen.run.anchors import build_encoder, genetics_options

CONF = Path(__file__).resolve().parents[2] / "conf"


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def test_default_is_the_papers_sgt_and_the_reader_keys_exclude_it() -> None:
    cfg = _compose()
    encoder = build_encoder(cfg)
    assert type(encoder) is SgtEncoder and encoder.cache_options() == SgtEncoder().cache_options()
    _, reader = genetics_options(cfg)
    assert "encoder" not in reader and {"header_rule", "synonyms", "iupac", "reduce", "medoid_sample"} <= set(
        reader
    )


def test_the_command_line_picks_and_tunes_the_encoder() -> None:
    encoder = build_encoder(
        _compose("genetics/encoder=kmer", "genetics.encoder.k=6", "genetics.encoder.clr=true")
    )
    assert type(encoder) is KmerEncoder and encoder.cache_options() == {
        "k": 6,
        "clr": True,
        "pseudocount": 0.5,
    }
    with pytest.raises(UserInputError, match=r"^genetics\.encoder\.k=9: must be an integer in 3\.\.8"):
        build_encoder(_compose("genetics/encoder=kmer", "genetics.encoder.k=9"))


def test_a_gzsl_encoder_other_than_the_runs_comes_from_its_yaml() -> None:
    cfg = _compose("genetics/encoder=kmer", "genetics.encoder.k=6")
    assert type(build_encoder(cfg, "aligned")) is AlignedEncoder
    assert build_encoder(cfg, "kmer").cache_options()["k"] == 6  # the run's own keeps its overrides
    # The fix lists every registered encoder (the registry's names, so a new encoder joins by itself).
    known = ", ".join(sorted(ENCODERS.names()))
    assert {"aligned", "kmer", "sgt"} <= set(ENCODERS.names())
    with pytest.raises(
        UserInputError, match=rf"^gzsl\.encoders='nope': unknown DNA encoder; use one of {known}$"
    ):
        build_encoder(cfg, "nope")


def test_the_default_ladder_is_todays() -> None:
    g = _compose("+experiment=gzsl").gzsl
    assert ladder_names(list(g.anchors), list(g.encoders)) == [
        "oracle_traits", "oracle_tree", "sgt_raw", "sgt_centred", "sgt_whitened", "shuffled", "random", "equiangular"
    ]  # fmt: skip
    assert ladder_names(["oracle_tree", "encoders", "shuffled"], ["sgt", "kmer"]) == [
        "oracle_tree", "sgt_raw", "sgt_centred", "sgt_whitened", "kmer_raw", "kmer_centred", "kmer_whitened", "shuffled"
    ]  # fmt: skip


def test_the_config_check_names_a_bad_reduction_in_one_line() -> None:
    from tests.pipeline_fixtures import compose_cfg
    from visgen.run.checks import check_config

    base = ["+experiment=ltr_align"]
    with pytest.raises(UserInputError) as err:
        check_config(compose_cfg([*base, "genetics.reduce=mode"]))
    assert str(err.value) == "genetics.reduce=mode: unknown value; use one of mean, median, medoid"
    with pytest.raises(UserInputError) as err:
        check_config(compose_cfg([*base, "genetics.reduce=medoid", "genetics.medoid_sample=0"]))
    assert str(err.value) == (
        "genetics.medoid_sample=0: must be an integer >= 1 (sequences kept per species for the medoid or median), "
        "e.g. 512"
    )
    check_config(
        compose_cfg([*base, "genetics.reduce=medoid", "genetics.medoid_sample=64"])
    )  # good values pass
    _, reader = genetics_options(compose_cfg([*base, "genetics.reduce=medoid"]))
    assert (reader["reduce"], reader["medoid_sample"]) == ("medoid", 512)
