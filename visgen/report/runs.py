"""Read the job folders of a Hydra multirun into plain records (pure, torch-free).

A job folder is whatever ``python run.py`` leaves (docs/design.md, "Run directory"): ``run.json``,
``.hydra/config.yaml`` and one ``<stage>/metrics.json`` per stage. A job that died before writing
``run.json`` still has ``.hydra/config.yaml`` and is recorded as ``missing``; a job the sweep asked
for but that never started has no folder at all and is found through the sweep's ``multirun.yaml``.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from visgen.errors import UserInputError

log = logging.getLogger(__name__)

#: The metric families of the paper table, as keys of ``metrics.json`` without the ``test/knn/`` prefix.
METRICS: tuple[str, ...] = ("acc", "per_class_acc", "rare_acc", "many_acc", "medium_acc", "few_acc")
#: Diagnostics beside the paper's KNN, as ``{name: metrics.json key}``; a table shows them when a run has them.
DIAGNOSTICS: dict[str, str] = {
    "ncm_rare_acc": "test/ncm/rare_acc",
    # The rebalancing rows' own classifier (visgen.run.rebalance), scored by the same metric function.
    "clf_per_class_acc": "test/clf/per_class_acc",
    "clf_rare_acc": "test/clf/rare_acc",
}
STAGES: tuple[str, ...] = ("pretrain", "align")

# The three sweep keys that identify a table cell; "+experiment" is how the sweep adds the group.
_EXPERIMENT_KEYS = ("+experiment", "experiment", "++experiment")
_SEED_KEYS = ("seed", "+seed", "++seed")
_LAMBDA_KEYS = ("data.phylo_signal", "+data.phylo_signal", "++data.phylo_signal")
#: In an expected cell: a seed or λ the sweep left at the config's value.
DEFAULT = "default"
#: A cell a sweep asked for, as ``expected_jobs`` returns it: (experiment, seed or DEFAULT, λ or DEFAULT).
Wanted = tuple[str, int | str | None, float | str | None]


@dataclass(frozen=True)
class RunRecord:
    """What one job of a sweep produced.

    Attributes:
        job_dir: the job folder (``None`` for a job the sweep expected but never started).
        name: experiment name (``name`` in the config, equal to the experiment file's name).
        seed: the run's seed.
        phylo_signal: ForamSim's λ; ``None`` for real images.
        profile: ``quick`` / ``paper`` / ...
        status: ``ok`` | ``failed`` | ``unavailable`` | ``missing`` (no result written).
        error: the one-line reason for a non-ok status.
        stage: the stage whose metrics are reported (the last of ``stages``).
        metrics: ``{"acc": 0.83, ...}`` as fractions, keys from ``METRICS`` and ``DIAGNOSTICS``; empty unless ok.
        data: the dataset facts from ``run.json`` (``source``, ``scale``, ``size``, ``synthetic`` ...).
        extra: other ``run.json`` fields kept for the header (``machine``, wall times).
        outside_grid: no sweep of the reported folders asked for this job (set by ``collect_runs``).
    """

    job_dir: Path | None
    name: str
    seed: int | None
    phylo_signal: float | None
    profile: str
    status: str
    error: str = ""
    stage: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    outside_grid: bool = False


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        log.warning("unreadable %s (%s)", path, err)
        return None


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _as_lambda(value: Any, data: dict[str, Any]) -> float | None:
    # Real images have no λ: the data source decides, not the (ignored) config default.
    if data.get("synthetic") is False or data.get("source") == "folder":
        return None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def find_job_dirs(multirun_dir: Path) -> list[Path]:
    """Every folder under ``multirun_dir`` that holds ``run.json`` or ``.hydra/config.yaml``, sorted."""
    found = {p.parent for p in multirun_dir.rglob("run.json")}
    found |= {p.parent.parent for p in multirun_dir.rglob(".hydra/config.yaml")}
    # The sweep root itself holds multirun.yaml, never a job's .hydra; keep only real jobs.
    return sorted(d for d in found if d != multirun_dir or (d / "run.json").exists())


def read_run(job_dir: Path) -> RunRecord:
    """Turn one job folder into a ``RunRecord`` (never raises for a broken job: it becomes a status)."""
    cfg_path = job_dir / ".hydra" / "config.yaml"
    cfg: dict[str, Any] = {}
    if cfg_path.exists():
        try:
            cfg = yaml.safe_load(cfg_path.read_text()) or {}
        except yaml.YAMLError as err:
            log.warning("unreadable %s (%s)", cfg_path, err)
    run = _read_json(job_dir / "run.json") if (job_dir / "run.json").exists() else None
    run = run or {}
    data = run.get("data") or {}
    name = str(run.get("name") or cfg.get("name") or job_dir.name)
    seed_raw = run.get("seed", cfg.get("seed"))
    seed = int(seed_raw) if isinstance(seed_raw, int) else None
    lam = _as_lambda(data.get("phylo_signal", _get(cfg, "data.phylo_signal")), data)
    profile = str(run.get("profile") or _get(cfg, "profile.name") or "unknown")
    # The config lists the stages asked for; run.json's `stages` maps the stages that ran to their facts.
    stages = cfg.get("stages") or list(run.get("stages") or {}) or list(STAGES)
    stage = str(stages[-1]) if stages else None
    extra = {k: v for k, v in run.items() if k not in {"name", "profile", "seed", "status", "error", "data"}}
    common = {"job_dir": job_dir, "name": name, "seed": seed, "phylo_signal": lam, "profile": profile}
    if not run:
        return RunRecord(**common, status="missing", error="no run.json (job killed or crashed)", stage=stage)
    status = str(run.get("status", "missing"))
    if status != "ok":
        return RunRecord(
            **common, status=status, error=str(run.get("error") or ""), stage=stage, data=data, extra=extra
        )
    metrics_path = job_dir / str(stage) / "metrics.json"
    raw = _read_json(metrics_path) if metrics_path.exists() else None
    if raw is None:
        return RunRecord(
            **common, status="missing", error=f"no {stage}/metrics.json", stage=stage, data=data, extra=extra
        )
    keys = {**{m: f"test/knn/{m}" for m in METRICS}, **DIAGNOSTICS}
    metrics = {m: float(raw[key]) for m, key in keys.items() if raw.get(key) is not None}
    return RunRecord(**common, status="ok", stage=stage, metrics=metrics, data=data, extra=extra)


def _sweep_values(params: dict[str, str], keys: Iterable[str]) -> list[str] | None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for key in keys:
        if key in params:
            parsed = OverridesParser.create().parse_overrides([f"{key}={params[key]}"])[0]
            return (
                list(parsed.sweep_string_iterator()) if parsed.is_sweep_override() else [str(parsed.value())]
            )
    return None


def expected_jobs(multirun_dir: Path) -> list[Wanted]:
    """The (experiment, seed, λ) cells the sweep asked for, read from ``multirun_dir/multirun.yaml``.

    Command-line overrides win over ``hydra.sweeper.params``, as in Hydra's basic sweeper. A seed or λ
    the sweep does not set is ``DEFAULT`` (the job ran with its config's value, which only the job knows).
    Returns an empty list when the file is absent or does not name the experiments (the table then shows
    only the jobs that exist).
    """
    path = multirun_dir / "multirun.yaml"
    if not path.exists():
        return []
    try:
        hydra_cfg = (yaml.safe_load(path.read_text()) or {}).get("hydra", {})
        params = {str(k): str(v) for k, v in ((hydra_cfg.get("sweeper") or {}).get("params") or {}).items()}
        for item in (hydra_cfg.get("overrides") or {}).get("task") or []:
            key, _, value = str(item).partition("=")
            params[key] = value
        names = _sweep_values(params, _EXPERIMENT_KEYS)
        seeds = _sweep_values(params, _SEED_KEYS) or [DEFAULT]
        lams = _sweep_values(params, _LAMBDA_KEYS) or [DEFAULT]
    except Exception as err:  # a grammar we cannot expand must not stop the report
        log.warning("could not expand the sweep in %s (%s); listing only existing jobs", path, err)
        return []
    if not names:
        return []
    return [
        (n, s if s == DEFAULT else int(s), lam if lam == DEFAULT else float(lam))
        for n, s, lam in itertools.product(names, seeds, lams)
    ]


def _asked_for(cell: tuple[str, int | None, float | None], wanted: Iterable[Wanted]) -> bool:
    """Whether one of the ``expected_jobs`` cells ``wanted`` is ``cell`` (``DEFAULT`` matches any value)."""
    return any(w[0] == cell[0] and w[1] in (DEFAULT, cell[1]) and w[2] in (DEFAULT, cell[2]) for w in wanted)


def as_dirs(multirun_dirs: Path | str | Sequence[Path | str]) -> list[Path]:
    """One folder or several, as a list of paths."""
    if isinstance(multirun_dirs, str | Path):
        return [Path(multirun_dirs)]
    return [Path(d) for d in multirun_dirs]


def collect_runs(multirun_dirs: Path | Sequence[Path]) -> list[RunRecord]:
    """All jobs of one or more multirun folders, plus a ``missing`` record for each expected job without a folder.

    Several folders make one table (e.g. a main sweep plus a second launch that adds a row at one λ):
    a cell expected by one sweep but run by another counts as run. The same cell (experiment, seed, λ)
    in two folders is kept from the folder whose sweep asked for it — the other copy is a leftover of an
    earlier launch into that folder, and is skipped with a log line; if that does not decide, it is an error.
    A job that no folder's sweep asked for (an earlier launch into the same folder: Hydra keeps only the
    last launch's ``multirun.yaml``) is counted and marked ``outside_grid``, so the report can list it.

    Raises:
        UserInputError: a folder does not exist or holds no job at all, or two folders hold the same cell
            and both (or neither) of their sweeps asked for it.
    """
    dirs = as_dirs(multirun_dirs)
    by_cell: dict[tuple[str, int | None, float | None], list[tuple[RunRecord, bool]]] = {}
    expected: list[Wanted] = []
    with_grid: set[Path] = set()  # folders whose sweep we could expand
    for multirun_dir in dirs:
        if not multirun_dir.is_dir():
            raise UserInputError(
                f"{multirun_dir}: no such multirun folder; pass the folder `python run.py -m` wrote"
            )
        found = [read_run(d) for d in find_job_dirs(multirun_dir)]
        wanted = expected_jobs(multirun_dir)
        if not found and not wanted:
            raise UserInputError(
                f"{multirun_dir}: holds no job folder (no run.json or .hydra/config.yaml); is it a multirun?"
            )
        if wanted:
            with_grid.add(multirun_dir)
        for r in found:
            cell = (r.name, r.seed, r.phylo_signal)
            by_cell.setdefault(cell, []).append((r, not wanted or _asked_for(cell, wanted)))
        expected += wanted
    records = [r for cell, copies in by_cell.items() for r in _one_copy(cell, copies, len(dirs) > 1)]
    records = [_mark_outside_grid(r, dirs, with_grid, expected) for r in records]
    profile = records[0].profile if records else "unknown"
    for name, seed, lam in dict.fromkeys(expected):
        if not any(_asked_for(cell, [(name, seed, lam)]) for cell in by_cell):
            seed_, lam_ = (
                (None if seed == DEFAULT else seed),
                (_usual_lambda(records) if lam == DEFAULT else lam),
            )
            records.append(
                RunRecord(
                    None, name, seed_, lam_, profile, status="missing", error="job never ran (no folder)"
                )
            )
    n_bad = sum(r.status != "ok" for r in records)
    log.info("read %d jobs from %s (%d not ok)", len(records), ", ".join(map(str, dirs)), n_bad)
    outside = [r for r in records if r.outside_grid]
    if outside:
        log.warning(
            "%d job folder(s) are in no sweep's grid (an earlier launch into the same folder; Hydra's multirun.yaml "
            "records only the last): counted and listed in the report; delete them to leave them out, e.g. %s",
            len(outside),
            outside[0].job_dir,
        )
    return records


def _mark_outside_grid(
    rec: RunRecord, dirs: Sequence[Path], with_grid: set[Path], expected: Sequence[Wanted]
) -> RunRecord:
    """``rec`` with ``outside_grid`` set when its folder's sweep is known and no sweep asked for its cell."""
    home = next((d for d in dirs if rec.job_dir is not None and d in rec.job_dir.parents), None)
    if home not in with_grid or _asked_for((rec.name, rec.seed, rec.phylo_signal), expected):
        return rec
    return replace(rec, outside_grid=True)


def _usual_lambda(records: Sequence[RunRecord]) -> float | None:
    """The λ of a missing job whose sweep left λ at the config's value: the one every found job has, else None."""
    lams = {r.phylo_signal for r in records}
    return lams.pop() if len(lams) == 1 else None


def _one_copy(
    cell: tuple[str, int | None, float | None], copies: list[tuple[RunRecord, bool]], several_dirs: bool
) -> list[RunRecord]:
    """The record(s) of one cell: all of them within one folder; across folders, the one its sweep asked for."""
    if len(copies) == 1 or not several_dirs:
        return [r for r, _ in copies]
    asked = [r for r, wanted in copies if wanted]
    if len(asked) == 1:
        for r, wanted in copies:
            if not wanted:
                log.info(
                    "%s: skipped, a leftover of an earlier sweep (this cell is in %s)",
                    r.job_dir,
                    asked[0].job_dir,
                )
        return asked
    name, seed, lam = cell
    paths = " and ".join(str(r.job_dir) for r, _ in copies)
    raise UserInputError(
        f"{paths}: the same cell ({name}, seed {seed}, λ {lam}) in two multirun folders; report them separately "
        "or remove one"
    )


def headline_lambda(lambdas: Iterable[float | None]) -> float | None:
    """The λ the paper's claims are read at: 1 when present, else real images (None), else the largest λ."""
    lams = set(lambdas)
    if 1.0 in lams:
        return 1.0
    if None in lams:
        return None
    return max((x for x in lams if x is not None), default=None)
