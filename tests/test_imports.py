"""The import rules live in pyproject.toml's ``[tool.importlinter]`` and ``lint-imports`` checks them inside
``make test``; this test only makes sure no package of visgen escapes them by being left out of the layers."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # import-linter brings tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_top_level_package_and_module_of_visgen_sits_on_a_layer() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    present = {
        f"visgen.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "visgen").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert present - placed == set(), "add these to the layers contract in pyproject.toml"
