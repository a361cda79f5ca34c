"""The plug-in registry behind data layouts, DNA encoders and tree sources: register, look up, refuse, auto-import."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from visgen.errors import UserInputError
from visgen.registry import Registry


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A package ``widgets_under_test`` written under tmp_path, importable, and forgotten afterwards."""
    name = "widgets_under_test"
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


@pytest.fixture
def reg(plugin_package: str, tmp_path: Path) -> Registry[object]:
    """A registry of a package that has no modules, so it holds only what a test registers."""
    (tmp_path / plugin_package).mkdir()
    (tmp_path / plugin_package / "__init__.py").write_text("")
    return Registry("widget", "data.widget", plugin_package)


def test_a_registered_object_is_found_by_its_name_and_the_names_are_sorted(reg: Registry[object]) -> None:
    beta, alpha = object(), object()
    assert reg.register("beta")(beta) is beta  # the decorator hands the object back unchanged
    reg.register("alpha")(alpha)
    assert reg.get("alpha") is alpha and reg.get("beta") is beta
    assert reg.names() == ["alpha", "beta"]
    assert reg.items() == [("alpha", alpha), ("beta", beta)]


def test_a_name_is_registered_once(reg: Registry[object]) -> None:
    reg.register("alpha")(1)
    with pytest.raises(ValueError, match="widget 'alpha' is registered twice"):
        reg.register("alpha")(2)
    assert reg.get("alpha") == 1


def test_a_class_that_names_itself_is_registered_under_that_name_only(reg: Registry[object]) -> None:

    class Alpha:
        name = "alpha"

    with pytest.raises(ValueError, match="names itself 'alpha' but is registered as widget 'alfa'"):
        reg.register("alfa")(Alpha)
    assert reg.register("alpha")(Alpha) is Alpha


def test_an_unknown_name_is_one_user_error_naming_the_key_the_kind_and_every_known_name(
    reg: Registry[object],
) -> None:
    reg.register("beta")(2)
    reg.register("alpha")(1)
    with pytest.raises(UserInputError) as caught:
        reg.get("gamma")
    assert str(caught.value) == "data.widget='gamma': unknown widget; use one of alpha, beta"


def _write_package(root: Path, name: str, lazy: bool, modules: dict[str, str]) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text(
        "from visgen.registry import Registry\n"
        f"WIDGETS = Registry('widget', 'data.widget', __name__, lazy={lazy})\n"
    )
    for module, registers in modules.items():
        body = f"from {name} import WIDGETS\n"
        if registers:
            body += f"\n@WIDGETS.register({registers!r})\ndef build():\n    return {module!r}\n"
        (package / f"{module}.py").write_text(body)
    importlib.invalidate_caches()  # the import system may have listed tmp_path before these files existed


def _imported(package: str) -> set[str]:
    return {m.removeprefix(f"{package}.") for m in sys.modules if m.startswith(f"{package}.")}


def test_an_eager_registry_imports_every_module_of_its_package_when_first_asked(
    plugin_package: str, tmp_path: Path
) -> None:
    # Registered names need not be module names, and a helper module may register nothing.
    _write_package(tmp_path, plugin_package, False, {"first": "alpha", "second": "beta", "helpers": ""})
    widgets = __import__(plugin_package).WIDGETS
    assert _imported(plugin_package) == set()  # importing the package alone imports no plug-in
    assert widgets.names() == ["alpha", "beta"]
    assert _imported(plugin_package) == {"first", "second", "helpers"}
    assert widgets.get("beta")() == "second"


def test_a_lazy_registry_lists_its_module_files_and_imports_only_the_one_asked_for(
    plugin_package: str, tmp_path: Path
) -> None:
    _write_package(tmp_path, plugin_package, True, {"alpha": "alpha", "beta": "beta", "broken": ""})
    widgets = __import__(plugin_package).WIDGETS
    assert widgets.names() == ["alpha", "beta", "broken"]
    assert _imported(plugin_package) == set()
    assert widgets.get("alpha")() == "alpha"
    assert _imported(plugin_package) == {"alpha"}
    with pytest.raises(
        UserInputError, match=r"^data\.widget='gamma': unknown widget; use one of alpha, beta, broken$"
    ):
        widgets.get("gamma")
    with pytest.raises(ValueError, match=r"widgets_under_test/broken\.py registers no widget as 'broken'"):
        widgets.get("broken")
