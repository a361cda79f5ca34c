"""ForamSim as a data layout: the synthetic set is generated on demand (cached), then read as species folders.

The only module on the data side that imports the generator (``visgen.sim``): everything else reads the
folders it writes through :class:`~visgen.data.layouts.folder.FolderLayout`, so real and synthetic images take
the same path from disk to batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visgen.data.layouts.base import LAYOUTS, DataLayout, LayoutFacts, ScanRequest, SpeciesCovariance
from visgen.data.layouts.folder import FolderLayout
from visgen.data.layouts.index import ImageIndex
from visgen.errors import UserInputError
from visgen.sim.settings import check_config_data, config_keys

#: data.* key -> ``SimSettings`` field (the generator's keyword), from the settings dataclass.
SIM_KEYS: dict[str, str] = config_keys()


@LAYOUTS.register("forams_sim")
class ForamSimLayout(DataLayout):
    """ForamSim images in the real Endless Forams long tail, generated once per setting and cached."""

    name = "forams_sim"
    facts = LayoutFacts(synthetic=True, needs_root=False, has_groups=False)
    config_keys = ("root", *SIM_KEYS)

    def __init__(self, settings: Mapping[str, Any], *, cache_dir: str | Path) -> None:
        """``settings``: ``visgen.sim.forams_sim.simulate`` keywords (scale, size, seed, phylo_signal, ...)."""
        self.settings = {k: v for k, v in settings.items() if v is not None}
        self.cache_dir = Path(cache_dir)

    @classmethod
    def from_config(cls, data: Mapping[str, Any], *, cache_dir: Path) -> ForamSimLayout:
        settings = {field: data[key] for key, field in SIM_KEYS.items() if key in data}
        settings.setdefault("size", data.get("image_size"))
        return cls(settings, cache_dir=cache_dir)

    @classmethod
    def problems(cls, data: Mapping[str, Any]) -> list[str]:
        try:
            check_config_data(data)
        except UserInputError as err:
            return [str(err)]
        return []

    @classmethod
    def train_counts(cls, data: Mapping[str, Any]) -> dict[str, int]:
        from visgen.sim.forams_sim import train_counts

        return train_counts(float(data.get("scale", 1.0)), int(data.get("sim_seed", 0)))

    @classmethod
    def species_tree(cls, data: Mapping[str, Any]) -> tuple[str, SpeciesCovariance]:
        """The generator's tree (``data.sim_tree``): ForamSim's traits evolve along it, so errors are measured along it."""
        from visgen.sim import trees

        name = str(data.get("sim_tree") or trees.DEFAULT)
        return name, lambda names: trees.species_covariance(name, names)

    def root(self) -> Path:
        """The generated folder (generated now if this setting has no complete cached copy)."""
        from visgen.sim.forams_sim import simulate_cached

        return simulate_cached(self.cache_dir, **self.settings)

    def scan(self, request: ScanRequest) -> tuple[ImageIndex | None, list[str]]:
        return FolderLayout(self.root()).scan(request)

    def describe(self) -> str:
        return "ForamSim"
