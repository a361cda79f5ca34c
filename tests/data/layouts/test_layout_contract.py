"""Every registered data layout keeps the one interface (timm's and pytorch-metric-learning's pattern: one test
parametrised over the registry, so a new layout is checked the moment it registers).

A layout needs an example data set here (``EXAMPLES``: its ``data.*`` config on data the test writes); the first
test fails for a layout without one, so none slips through unchecked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.bioscan5m_fixtures import write_mini_bioscan5m
from tests.conftest import write_tiny_image_folder
from visgen.data.layouts import LAYOUTS, ImageIndex, ScanRequest
from visgen.data.splits import SPLITS
from visgen.errors import UserInputError


def _folder(tmp_path: Path) -> dict[str, Any]:
    return {"source": "folder", "root": str(write_tiny_image_folder(tmp_path / "tiny"))}


def _forams_sim(tmp_path: Path) -> dict[str, Any]:
    return {
        "source": "forams_sim",
        "root": None,
        "scale": 0.001,
        "sim_seed": 0,
        "sim_size": 32,
        "image_size": 16,
    }


def _bioscan5m(tmp_path: Path) -> dict[str, Any]:
    return {"source": "bioscan5m", "root": str(write_mini_bioscan5m(tmp_path / "bioscan"))}


#: layout name -> a function writing an example data set under a folder and returning its ``data`` config.
EXAMPLES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "bioscan5m": _bioscan5m,
    "folder": _folder,
    "forams_sim": _forams_sim,
}


def test_every_registered_layout_has_an_example_here() -> None:
    assert set(LAYOUTS.names()) - set(EXAMPLES) == set(), (
        "add an example data set for the new layout to EXAMPLES"
    )


@pytest.mark.parametrize("name", LAYOUTS.names())
def test_a_layout_turns_its_example_into_a_consistent_index(name: str, tmp_path: Path) -> None:
    cls = LAYOUTS.get(name)
    assert (
        cls.name == name and cls.__module__ == f"visgen.data.layouts.{name}"
    )  # grep finds YAML, module, class
    assert "root" in cls.config_keys
    data = EXAMPLES[name](tmp_path)
    assert cls.problems(data) == []
    layout = cls.from_config(data, cache_dir=tmp_path / "cache")
    assert isinstance(layout.describe(), str) and layout.describe()
    index, problems = layout.scan(ScanRequest(classes="all"))
    assert problems == [] and isinstance(index, ImageIndex)
    n, c = len(index.paths), len(index.class_names)
    assert n > 0 and c > 0
    for column in (index.labels, index.splits, index.sizes, index.mtimes_ns, index.extra_test, index.groups):
        assert len(column) == n
    assert index.labels.min() >= 0 and index.labels.max() < c
    assert set(index.splits.tolist()) <= set(SPLITS)
    assert np.array_equal(sum(index.counts(s) for s in SPLITS), np.bincount(index.labels, minlength=c))
    assert set(index.locations) == set(index.class_names)
    assert all((index.root / p).is_file() for p in index.paths)
    # Every named skip is also counted under its reason.
    named = Counter(item.reason for item in index.skipped_items)
    assert sum(named.values()) <= sum(index.skipped.values())
    # What the run records about the source agrees with the layout's facts.
    assert layout.dataset_info(index.root).get("synthetic") is cls.facts.synthetic
    if not cls.facts.has_groups:
        assert not any(index.groups)


@pytest.mark.parametrize("name", LAYOUTS.names())
def test_a_layout_that_needs_a_root_says_so_in_one_line(name: str, tmp_path: Path) -> None:
    cls = LAYOUTS.get(name)
    data = {**EXAMPLES[name](tmp_path), "root": None}
    problems = cls.problems(data)
    if cls.facts.needs_root:
        assert problems and all("data.root" in p and "\n" not in p for p in problems)
    else:
        assert problems == []


def test_an_unknown_source_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(
        UserInputError, match=r"data.source='folders': unknown data layout; use one of .*folder"
    ):
        LAYOUTS.get("folders")
