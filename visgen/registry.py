"""One plug-in registry: a name -> object map that a package's modules fill with a decorator.

Layouts, DNA encoders and ForamSim's tree sources are each a package with one module per plug-in. The registry
imports the package's modules itself the first time it is asked for a name, so a new plug-in is a new file and no
hand-kept list. Two ways to load:

* eager (default): every module of the package is imported once, then the registered names are the choices. A
  module may register nothing (shared helpers) and the names need not be the modules'.
* lazy: the module files are the choices, listed without importing them, and ``get(name)`` imports only module
  ``name``, which must register itself under its own file name. For plug-ins whose imports are heavy and which a
  caller usually needs one of.

Bottom layer: imports nothing of visgen but :mod:`visgen.errors`, so every layer may own a registry.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Generic, TypeVar

from visgen.errors import UserInputError

T = TypeVar("T")


class Registry(Generic[T]):
    """The plug-ins of one package, by name.

    Args:
        kind: what one plug-in is, for messages (``"data layout"``).
        key: the config key whose values are the names, for messages (``"data.source"``).
        package: the dotted name of the package whose modules register the plug-ins.
        lazy: list the package's module files as the names and import one only when it is asked for.
    """

    def __init__(self, kind: str, key: str, package: str, *, lazy: bool = False) -> None:
        self.kind = kind
        self.key = key
        self.package = package
        self.lazy = lazy
        self._entries: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("sgt")`` makes the decorated object the plug-in ``name``.

        A plug-in that names itself (a class with a ``name`` attribute) must be registered under that name, so the
        two spellings cannot drift apart.

        Raises:
            ValueError: ``name`` is taken, or differs from the object's own ``name``.
        """

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(
                    f"{self.kind} {name!r} is registered twice: {self._entries[name]!r} and {obj!r}"
                )
            own = getattr(obj, "name", name)
            if own != name:
                raise ValueError(f"{obj!r} names itself {own!r} but is registered as {self.kind} {name!r}")
            self._entries[name] = obj
            return obj

        return add

    def names(self) -> list[str]:
        """Every plug-in's name, sorted (lazy: the package's module files, none of them imported)."""
        if self.lazy:
            return sorted(self._modules())
        self._import_all()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        """The plug-in ``name``.

        Raises:
            UserInputError: no such plug-in; one line naming the key, the kind and every known name.
            ValueError: (lazy) module ``name`` registers nothing under its own name, a mistake in the code.
        """
        known = self.names()
        if name not in known:
            raise UserInputError(f"{self.key}={name!r}: unknown {self.kind}; use one of {', '.join(known)}")
        if self.lazy:
            importlib.import_module(f"{self.package}.{name}")
            if name not in self._entries:
                path = self.package.replace(".", "/")
                raise ValueError(f"{path}/{name}.py registers no {self.kind} as {name!r}; decorate one")
        return self._entries[name]

    def items(self) -> list[tuple[str, T]]:
        """``(name, plug-in)`` for every plug-in, sorted by name (lazy: imports every module)."""
        return [(name, self.get(name)) for name in self.names()]

    def _modules(self) -> list[str]:
        """The module names of the package, from its files (importing the package, not the modules)."""
        return [m.name for m in pkgutil.iter_modules(importlib.import_module(self.package).__path__)]

    def _import_all(self) -> None:
        """Import every module of the package once, so that each one's decorators have run."""
        if self._loaded:
            return
        for module in self._modules():
            importlib.import_module(f"{self.package}.{module}")
        self._loaded = True
