"""A ForamSim knob is one SimSettings field: a dummy field reaches the CLI flag, the range check, the cache key
and the report header with no other edit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from visgen.cli import build_parser
from visgen.errors import UserInputError
from visgen.report.header import describe_data
from visgen.results import RunRecord
from visgen.run.checks import check_config
from visgen.sim import forams_sim
from visgen.sim import settings as sim_settings


@dataclass(frozen=True)
class _WithWobble(sim_settings.SimSettings):
    wobble: float = sim_settings.knob(
        0.0, lambda v: 0 <= v <= 1, "must lie in [0, 1]", "shell wobble (test knob)"
    )


@pytest.fixture
def wobble(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_settings, "SimSettings", _WithWobble)
    monkeypatch.setattr(forams_sim, "SimSettings", _WithWobble)


def test_a_new_field_gets_a_command_line_flag(wobble: None) -> None:
    ns = build_parser().parse_args(["simulate", "--out", "x", "--wobble", "0.25"])
    assert sim_settings.from_namespace(ns)["wobble"] == 0.25
    assert sim_settings.from_namespace(build_parser().parse_args(["simulate", "--out", "x"]))["wobble"] == 0.0


def test_a_new_field_is_range_checked_on_the_command_line_and_in_the_config(wobble: None) -> None:
    with pytest.raises(UserInputError, match=r"--wobble must lie in \[0, 1\], got 2.0"):
        sim_settings.check_args("visgen simulate --out x", wobble=2.0)
    cfg = {
        "seed": 0,
        "stages": ["pretrain"],
        "trainer": {},
        "data": {"source": "forams_sim", "sim_wobble": -1},
    }
    with pytest.raises(UserInputError, match=r"config: data.sim_wobble must lie in \[0, 1\], got -1"):
        check_config(cfg)
    assert sim_settings.config_keys()["sim_wobble"] == "wobble"


def test_a_new_field_changes_the_cache_key(wobble: None) -> None:
    base = forams_sim.cache_key(scale=0.01)
    assert forams_sim.cache_key(scale=0.01, wobble=0.0) == base
    assert forams_sim.cache_key(scale=0.01, wobble=0.5) != base


def test_a_new_field_reaches_the_report_header(wobble: None, tmp_path: Path) -> None:
    data = {"source": "forams_sim", "phylo_signal": 1.0, "scale": 0.1, "size": 64, "wobble": 0.5}
    rec = RunRecord(tmp_path, "ltr", "quick", 0, status="ok", data=data)
    assert "wobble 0.5" in describe_data([rec])


def test_knobs_at_their_off_value_stay_out_of_the_header(tmp_path: Path) -> None:
    data = {"source": "forams_sim", "phylo_signal": 1.0, "scale": 0.1, "size": 64, "convergent": 0, "seed": 1}
    text = describe_data([RunRecord(tmp_path, "ltr", "quick", 0, status="ok", data=data)])
    assert "convergent" not in text and text.endswith("64 px, draw 1")
    data["convergent"] = 4
    assert "4 convergent look-alike pairs" in describe_data([RunRecord(tmp_path, "x", "q", 0, data=data)])
