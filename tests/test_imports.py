"""The package's import graph (read with ``ast``, nothing imported): no circle, every arrow points down a floor.

Floors, top to bottom (/work/shared/ARCHITECTURE.md's layout, docs/design.md "Layers"): ``cli.py`` and ``run/``
own a run; ``report/`` reads run folders; callbacks, data modules and LightningModules; models and losses;
the torch-free ground floor (``results/``, ``genetics/``, ``sim/``); errors and resources.
A module may import its own floor or any floor below, never one above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: package (or module) -> floor; higher numbers sit higher.
FLOORS: dict[str, int] = {
    "visgen.cli": 5,
    "visgen.run": 5,
    "visgen.report": 4,
    "visgen.callbacks": 3,
    "visgen.data": 3,
    "visgen.lit": 3,
    "visgen.models": 2,
    "visgen.losses": 2,
    "visgen.results": 1,
    "visgen.genetics": 1,
    "visgen.sim": 1,
    "visgen.eval": 2,
    "visgen.errors": 0,
    "visgen.resources": 0,
    "visgen": 0,
}
#: Packages that must stay free of these third-party imports, directly or through the visgen modules they import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "visgen.report": ("torch", "lightning", "torchvision", "visgen.run"),
    "visgen.results": ("torch", "lightning", "torchvision", "visgen.run", "visgen.report"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / "visgen").rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module ``path`` imports anywhere (top level or inside a function), as dotted names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from visgen.sim import convergence` imports the module visgen.sim.convergence.
            subs = {f"{node.module}.{a.name}" for a in node.names}
            found |= {s for s in subs if s in modules} or {node.module}
    return found


def _floor(module: str) -> int:
    best = max((p for p in FLOORS if module == p or module.startswith(p + ".")), key=len)
    return FLOORS[best]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(p, modules) for m, p in modules.items()}


def test_every_module_sits_on_a_floor() -> None:
    unplaced = [m for m in _modules() if m != "visgen" and _floor(m) == 0 and m not in FLOORS]
    assert not unplaced, f"add these to FLOORS in tests/test_imports.py: {unplaced}"


def test_no_module_imports_one_on_a_higher_floor() -> None:
    graph = _graph()
    up = [
        f"{a} (floor {_floor(a)}) imports {b} (floor {_floor(b)})"
        for a, deps in graph.items()
        for b in deps
        if b.startswith("visgen") and _floor(b) > _floor(a)
    ]
    assert not up, "imports that point up a floor:\n" + "\n".join(sorted(up))


def test_the_visgen_import_graph_has_no_circle() -> None:
    graph = {a: {b for b in deps if b in _modules()} for a, deps in _graph().items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            pytest.fail("import circle: " + " -> ".join(cycle))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_torch_free_floors_reach_no_torch(package: str) -> None:
    """``report/`` and ``results/`` import no torch/Lightning (nor run/), not even through other visgen modules."""
    graph, modules = _graph(), _modules()
    bad = []
    for start in (m for m in graph if m == package or m.startswith(package + ".")):
        seen, todo = {start}, [(start, [start])]
        while todo:
            mod, chain = todo.pop()
            for dep in graph.get(mod, ()):
                if any(dep == f or dep.startswith(f + ".") for f in FORBIDDEN[package]):
                    bad.append(" -> ".join([*chain, dep]))
                elif dep in modules and dep not in seen:
                    seen.add(dep)
                    todo.append((dep, [*chain, dep]))
    assert not bad, f"{package} must not reach {FORBIDDEN[package]}:\n" + "\n".join(sorted(set(bad)))


def test_the_checker_sees_a_planted_upward_import_and_circle(tmp_path: Path) -> None:
    # The graph reader on a two-line module: an upward import and a circle are both found.
    mod = tmp_path / "m.py"
    mod.write_text("from visgen.run.pipeline import run\nimport visgen.results.files\n")
    fake = {"visgen.run.pipeline": mod, "visgen.results.files": mod}
    assert _imports(mod, fake) == {"visgen.run.pipeline", "visgen.results.files"}
    assert _floor("visgen.run.pipeline") > _floor("visgen.results.files")
