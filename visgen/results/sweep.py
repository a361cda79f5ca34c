"""The jobs of one or more Hydra multirun folders as ``RunRecord``s, and their grouping by sweep axis (torch-free).

A job folder is whatever ``python run.py`` leaves (docs/design.md, "Run directory"). A job that died before
writing ``run.json`` still has ``.hydra/config.yaml`` and is read as ``missing``; a job the sweep asked for but
that never started has no folder and is found through the sweep's ``multirun.yaml``. A job is identified by its
cell (``RunRecord.value`` of every key any job overrides), so any axis a sweep varies — experiment, λ, ForamSim
draw, seed, fold, k, anchor type, classifier — both identifies a job and can group a report.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from visgen.errors import UserInputError
from visgen.results.record import NOT_A_CELL, RunRecord, canonical, cell_key

log = logging.getLogger(__name__)

#: The replicate axis: reports average over it instead of grouping by it.
REPLICATE = "seed"
#: Axes every paper-table report shows as columns, varied or not.
FIXED_AXES: tuple[str, ...] = ("experiment", "data.phylo_signal")
#: A cell a sweep asked for: ``{key: canonical value}`` for the keys the sweep sets (``RunRecord.value``).
Wanted = dict[str, str]


def find_job_dirs(multirun_dir: Path) -> list[Path]:
    """Every folder under ``multirun_dir`` that holds ``run.json`` or ``.hydra/config.yaml``, sorted."""
    found = {p.parent for p in multirun_dir.rglob("run.json")}
    found |= {p.parent.parent for p in multirun_dir.rglob(".hydra/config.yaml")}
    # The sweep root itself holds multirun.yaml, never a job's .hydra; keep only real jobs.
    return sorted(d for d in found if d != multirun_dir or (d / "run.json").exists())


def _expand(key: str, value: str) -> list[str]:
    """One override's values: ``seed=0,1,2`` -> ``['0', '1', '2']`` (Hydra's grammar: ranges, choice ...)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([f"{key}={value}"])[0]
    return list(parsed.sweep_string_iterator()) if parsed.is_sweep_override() else [canonical(parsed.value())]


def expected_cells(multirun_dir: Path) -> list[Wanted]:
    """The cells the sweep asked for, read from ``multirun_dir/multirun.yaml`` (product of the swept values).

    Command-line overrides win over ``hydra.sweeper.params``, as in Hydra's basic sweeper. A cell holds the keys
    the sweep sweeps plus the fixed overrides that set a value (``experiment``, ``seed``, dotted keys); a fixed
    config-group choice (``profile=paper``) is the same for every job and names no cell. Returns [] when the file
    is absent or cannot be expanded (the report then shows only the jobs that exist).
    """
    path = multirun_dir / "multirun.yaml"
    if not path.exists():
        return []
    try:
        hydra_cfg = (yaml.safe_load(path.read_text()) or {}).get("hydra", {})
        params = {str(k): str(v) for k, v in ((hydra_cfg.get("sweeper") or {}).get("params") or {}).items()}
        swept = set(params)
        for item in (hydra_cfg.get("overrides") or {}).get("task") or []:
            key, _, value = str(item).partition("=")
            params[key] = value
        axes: dict[str, list[str]] = {}
        for key, value in params.items():
            values = _expand(key, value)
            name = cell_key(key)
            if name in NOT_A_CELL or name.startswith("hydra"):
                continue
            if key in swept or len(values) > 1 or name in ("experiment", REPLICATE) or "." in name:
                axes[name] = [canonical(v) for v in values]
    except Exception as err:  # a grammar we cannot expand must not stop the report
        log.warning("could not expand the sweep in %s (%s); listing only existing jobs", path, err)
        return []
    if "experiment" not in axes:
        return []
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def matches(rec: RunRecord, wanted: Wanted) -> bool:
    """Whether ``rec`` is the job a sweep asked for with ``wanted``."""
    return all(rec.value(k) == v for k, v in wanted.items())


def axis_keys(records: Sequence[RunRecord]) -> list[str]:
    """Every key any job overrides, plus experiment, λ and seed: the keys that identify a job."""
    keys = dict.fromkeys([*FIXED_AXES, REPLICATE])
    for rec in records:
        keys.update(dict.fromkeys(rec.cell))
    return list(keys)


def varying_axes(records: Sequence[RunRecord], exclude: Iterable[str] = (REPLICATE,)) -> list[str]:
    """The keys whose value differs between ``records`` (``axis_keys`` order), less ``exclude``."""
    skip = set(exclude)
    return [k for k in axis_keys(records) if k not in skip and len({r.value(k) for r in records}) > 1]


def group(records: Iterable[RunRecord], axes: Sequence[str]) -> dict[tuple[str, ...], list[RunRecord]]:
    """Records grouped by their values of ``axes`` (``RunRecord.value``), in first-seen order."""
    groups: dict[tuple[str, ...], list[RunRecord]] = {}
    for rec in records:
        groups.setdefault(tuple(rec.value(k) for k in axes), []).append(rec)
    return groups


def as_dirs(multirun_dirs: Path | str | Sequence[Path | str]) -> list[Path]:
    """One folder or several, as a list of paths."""
    if isinstance(multirun_dirs, str | Path):
        return [Path(multirun_dirs)]
    return [Path(d) for d in multirun_dirs]


def load_runs(multirun_dirs: Path | str | Sequence[Path | str]) -> list[RunRecord]:
    """All jobs of one or more multirun folders, plus a ``missing`` record for each expected job without a folder.

    Several folders make one set (e.g. a main sweep plus a second launch that adds a row): a cell expected by one
    sweep but run by another counts as run. The same cell in two folders is kept from the folder whose sweep asked
    for it (the other copy is a leftover of an earlier launch, skipped with a log line); if that does not decide,
    it is an error. A job that no folder's sweep asked for (an earlier launch into the same folder: Hydra keeps
    only the last launch's ``multirun.yaml``) is kept and marked ``outside_grid``.

    Raises:
        UserInputError: a folder does not exist or holds no job at all, or two folders hold the same cell and
            both (or neither) of their sweeps asked for it.
    """
    dirs = as_dirs(multirun_dirs)
    found: list[tuple[RunRecord, Path, bool]] = []  # (record, its folder, asked for by that folder's sweep)
    expected: list[Wanted] = []
    templates: list[tuple[Wanted, RunRecord | None]] = []  # each expected cell with a job of its folder
    with_grid: set[Path] = set()
    for multirun_dir in dirs:
        if not multirun_dir.is_dir():
            raise UserInputError(
                f"{multirun_dir}: no such multirun folder; pass the folder `python run.py -m` wrote"
            )
        recs = [RunRecord.read(d) for d in find_job_dirs(multirun_dir)]
        wanted = expected_cells(multirun_dir)
        if not recs and not wanted:
            raise UserInputError(
                f"{multirun_dir}: holds no job folder (no run.json or .hydra/config.yaml); is it a multirun?"
            )
        if wanted:
            with_grid.add(multirun_dir)
        found += [(r, multirun_dir, not wanted or any(matches(r, w) for w in wanted)) for r in recs]
        expected += wanted
        templates += [(w, recs[0] if recs else None) for w in wanted]
    keys = axis_keys([r for r, _, _ in found])
    by_cell: dict[tuple[str, ...], list[tuple[RunRecord, bool]]] = {}
    for rec, _, asked in found:
        by_cell.setdefault(tuple(rec.value(k) for k in keys), []).append((rec, asked))
    records = [r for copies in by_cell.values() for r in _one_copy(copies, len(dirs) > 1)]
    kept = {id(r) for r in records}
    for rec, home, _ in found:
        if id(rec) in kept and home in with_grid and not any(matches(rec, w) for w in expected):
            rec.outside_grid = True
    records += _never_ran(records, templates)
    n_bad = sum(r.status != "ok" for r in records)
    log.info("read %d jobs from %s (%d not ok)", len(records), ", ".join(map(str, dirs)), n_bad)
    outside = [r for r in records if r.outside_grid]
    if outside:
        log.warning(
            "%d job folder(s) are in no sweep's grid (an earlier launch into the same folder; Hydra's multirun.yaml "
            "records only the last): counted and listed in the report; delete them to leave them out, e.g. %s",
            len(outside),
            outside[0].run_dir,
        )
    return records


def _never_ran(
    records: Sequence[RunRecord], expected: Sequence[tuple[Wanted, RunRecord | None]]
) -> list[RunRecord]:
    """A ``missing`` record for each expected cell no job matches.

    It takes the overrides and composed config of a job of the same sweep folder (the same fixed overrides)
    with the cell's values on top, so it has a value for every key its siblings have.
    """
    shared = _shared_data(records)
    out: list[RunRecord] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for wanted, sibling in expected:
        if tuple(wanted.items()) in seen or any(matches(r, wanted) for r in records):
            continue
        seen.add(tuple(wanted.items()))
        cell = {**(sibling.cell if sibling else {}), **wanted}
        seed = wanted.get(REPLICATE)
        out.append(
            RunRecord(
                None, wanted["experiment"], sibling.profile if sibling else "unknown",
                int(seed) if seed and seed.lstrip("-").isdigit() else None,
                status="missing", error="job never ran (no folder)",
                overrides=[f"{k}={v}" for k, v in cell.items()], data=dict(shared),
                config=sibling.config if sibling else {},
            )
        )  # fmt: skip
    return out


def _shared_data(records: Sequence[RunRecord]) -> dict[str, Any]:
    """The data facts that decide λ (source, synthetic, phylo_signal) where every found job agrees on them."""
    out: dict[str, Any] = {}
    for key in ("source", "synthetic", "phylo_signal"):
        values = {repr(r.data.get(key)) for r in records if r.data}
        if len(values) == 1:
            value = next(r.data.get(key) for r in records if r.data)
            if value is not None:
                out[key] = value
    return out


def _one_copy(copies: list[tuple[RunRecord, bool]], several_dirs: bool) -> list[RunRecord]:
    """The record(s) of one cell: all of them within one folder; across folders, the one its sweep asked for."""
    if len(copies) == 1 or not several_dirs:
        return [r for r, _ in copies]
    asked = [r for r, wanted in copies if wanted]
    if len(asked) == 1:
        for r, wanted in copies:
            if not wanted:
                log.info(
                    "%s: skipped, a leftover of an earlier sweep (this cell is in %s)",
                    r.run_dir,
                    asked[0].run_dir,
                )
        return asked
    rec = copies[0][0]
    paths = " and ".join(str(r.run_dir) for r, _ in copies)
    raise UserInputError(
        f"{paths}: the same cell ({rec.name}, seed {rec.seed}, λ {rec.phylo_signal}) in two multirun folders; "
        "report them separately or remove one"
    )
