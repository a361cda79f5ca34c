"""Every registered DNA encoder keeps the DnaEncoder contract (a new encoder is picked up without editing this file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from visgen.genetics.encoders import ENCODERS, DnaEncoder

CONF = Path(__file__).resolve().parents[3] / "conf" / "genetics" / "encoder"


@pytest.fixture(scope="module")
def family() -> dict[str, list[str]]:
    """Four species descended from one random 240-bp ancestor (10 % substitutions each); B and D have one sequence."""
    rng = np.random.default_rng(7)
    ancestor = rng.choice(list("acgt"), 240)

    def mutant(rate: float) -> str:
        seq = ancestor.copy()
        hit = rng.random(len(seq)) < rate
        seq[hit] = rng.choice(list("acgt"), int(hit.sum()))
        return "".join(seq)

    return {
        "A": [mutant(0.1), mutant(0.1), mutant(0.1)],
        "B": [mutant(0.1)],
        "C": [mutant(0.1)] * 2,
        "D": [mutant(0.1)],
    }


def _vectors(encoder: DnaEncoder, family: dict[str, list[str]]) -> np.ndarray:
    if encoder.per_species:
        names, vectors = encoder.encode_species(family)
        assert names == list(family)
        return vectors
    return encoder.encode([s for seqs in family.values() for s in seqs])


def _other_value(cls: type[DnaEncoder], key: str, value: Any) -> Any:
    """A different, valid value of one option."""
    if key in cls.choices:
        return next(v for v in cls.choices[key] if v != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return value * 0.9


@pytest.mark.parametrize("name", ENCODERS.names())
def test_shape_and_determinism(name: str, family: dict[str, list[str]]) -> None:
    encoder = ENCODERS.get(name)()
    assert encoder.name == name and encoder.problems() == []
    first, second = _vectors(encoder, family), _vectors(ENCODERS.get(name)(), family)
    rows = len(family) if encoder.per_species else sum(map(len, family.values()))
    assert first.ndim == 2 and first.shape[0] == rows and first.shape[1] >= 1 and first.dtype == np.float64
    assert np.isfinite(first).all() and np.ptp(first, axis=0).max() > 0  # rows differ: it encodes something
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", ENCODERS.names())
def test_one_sequence_alone_and_a_species_of_one(name: str, family: dict[str, list[str]]) -> None:
    encoder = ENCODERS.get(name)()
    assert encoder.encode([family["B"][0]]).shape[0] == 1
    if encoder.per_species:
        names, vectors = encoder.encode_species({"B": family["B"], "A": family["A"]})
        assert names == ["B", "A"] and vectors.shape[0] == 2 and np.isfinite(vectors).all()


@pytest.mark.parametrize("name", ENCODERS.names())
def test_cache_options_change_with_each_option(name: str) -> None:
    cls = ENCODERS.get(name)
    options = cls().cache_options()
    json.dumps(options)  # part of a JSON cache key
    for key, value in options.items():
        other = cls(**{**options, key: _other_value(cls, key, value)})
        assert other.problems() == [], key
        assert other.cache_options() != options, key
        assert set(other.cache_options()) == set(options)


@pytest.mark.parametrize("name", ENCODERS.names())
def test_problems_name_each_bad_value_in_one_line(name: str) -> None:
    cls = ENCODERS.get(name)
    options = cls().cache_options()
    for key, value in options.items():
        if isinstance(value, bool):
            continue
        bad = "no-such-value" if key in cls.choices else -1
        problems = cls(**{**options, key: bad}).problems()
        assert len(problems) == 1 and problems[0].startswith(f"genetics.encoder.{key}={bad}: "), problems
        assert "\n" not in problems[0] and ";" in problems[0]  # why; fix


@pytest.mark.parametrize("name", ENCODERS.names())
def test_each_encoder_has_a_yaml_with_its_target(name: str) -> None:
    conf = OmegaConf.load(CONF / f"{name}.yaml")
    encoder = instantiate(conf, _convert_="all")
    assert type(encoder) is ENCODERS.get(name)
    assert set(conf) - {"_target_"} == set(encoder.cache_options())


def test_the_registry_holds_every_module_of_the_package() -> None:
    package = Path(__file__).resolve().parents[3] / "visgen" / "genetics" / "encoders"
    modules = {p.stem for p in package.glob("*.py")} - {"__init__", "encoding"}
    assert {ENCODERS.get(n).__module__.rsplit(".", 1)[1] for n in ENCODERS.names()} == modules
    assert {"sgt", "kmer", "aligned"} <= set(ENCODERS.names())
