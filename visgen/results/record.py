"""``RunRecord``: one job's ``run.json``, written while it runs and read back by reports and probes (torch-free).

The record names the job's sweep cell as every override it ran with (Hydra's task overrides, e.g.
``+experiment=ltr_align seed=2 data.sim_seed=1``); ``cell`` gives them with the ``+``/``++`` prefixes dropped,
and ``value(key)`` answers for a key the job did not override from the job's composed config
(``.hydra/config.yaml``), so jobs of different sweeps can be grouped by any key.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from visgen.results.files import (
    RUN_JSON,
    STAGES,
    metric_values,
    read_config,
    read_json,
    read_metrics,
    write_json_atomic,
)

#: Cell keys spelled differently in the config: ``experiment`` is the config's ``name``.
_CONFIG_PATH = {"experiment": "name"}
#: Overrides that never make a cell (Hydra's own settings).
_IGNORED_PREFIXES = ("hydra.", "hydra/")
#: Overrides that name or display a job but cannot change its numbers, so they never split a report's rows: the
#: sweep's config group and W&B group name, the progress bar, the logger, data-loading speed knobs.
NOT_A_CELL: frozenset[str] = frozenset(
    {"sweep", "sweep_name", "callbacks.progress_bar", "logger", "data.num_workers", "data.device_resident"}
)


def cell_key(key: str) -> str:
    """An override's key without Hydra's ``+``/``++``/``~`` prefix: ``+experiment`` -> ``experiment``."""
    return key.lstrip("+~")


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["+experiment=ltr", "seed=0"]`` -> ``{"experiment": "ltr", "seed": "0"}`` (Hydra's keys and ``NOT_A_CELL``
    dropped)."""
    cell: dict[str, str] = {}
    for item in overrides:
        key, _, value = str(item).partition("=")
        if not key.startswith(_IGNORED_PREFIXES) and cell_key(key) not in NOT_A_CELL:
            cell[cell_key(key)] = value
    return cell


def canonical(value: Any) -> str:
    """A value as a comparable string: ``1``, ``1.0`` and ``'1.0'`` all read ``1``; None, ``null``, ``None`` and
    an absent key read ``null`` (Hydra's spelling on the command line); ``True``, ``'True'`` and ``'true'`` read
    ``true`` (a job's recorded cell holds Python's spelling, a sweep's multirun.yaml the command line's); a list
    reads ``[a,b]`` whether it comes parsed (``['a', 'b']``) or as the command line wrote it; an interpolation
    reads ``${seed}`` whether a sweep's multirun.yaml holds it so or a job's overrides hold Hydra's escaped
    ``$\\{seed\\}`` (``data.sim_seed=${seed}``, one ForamSim draw per seed)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(
        value, (list, tuple)
    ):  # a list override: Hydra's parser gives a list, a job records "[a,b]"
        return "[" + ",".join(canonical(v) for v in value) + "]"
    text = str(value).strip().strip("'\"").replace("\\{", "{").replace("\\}", "}")
    if text.startswith("[") and text.endswith("]"):
        return "[" + ",".join(canonical(v) for v in text[1:-1].split(",") if v.strip()) + "]"
    if text in ("null", "None", "~"):
        return "null"
    if text in ("True", "False"):
        return text.lower()
    try:
        x = float(text)
    except ValueError:
        return text
    return str(int(x)) if x.is_integer() else repr(x)


@dataclass
class RunRecord:
    """The contents of ``<run_dir>/run.json``, plus what a reader adds from the job folder.

    Attributes:
        run_dir: the job folder (None for a job a sweep expected but that never started).
        name: experiment name (``name`` in the config, equal to the experiment file's name).
        profile: compute profile (``quick`` / ``paper``).
        seed: the global seed as given (a non-integer one is recorded, then refused by the config check).
        status: ``running`` -> ``ok`` | ``failed`` | ``unavailable``; a reader adds ``missing`` (no result).
        error: one-line reason for a non-ok status.
        overrides: the job's Hydra task overrides as ``key=value`` strings (its sweep cell).
        data: dataset facts (the image source's ``dataset.json`` plus class counts).
        stages: per stage that ran: ``wall_s``, ``reused``, checkpoint paths.
        started: start time (epoch seconds).
        machine: host, CPU, GPU and torch version.
        extra: other ``run.json`` fields a reader found (``wall_s``, ``python`` ...).
        config: the composed config (``.hydra/config.yaml``) when read back; {} otherwise.
        outside_grid: no sweep of the reported folders asked for this job (set by ``load_runs``).
        protocol: the protocol switches (``visgen.run.pipeline.protocol_facts``); its ``selection`` is also written
            top-level, where ``"test"`` marks checkpoints chosen on the test split.
    """

    run_dir: Path | None
    name: str
    profile: str
    seed: int | str | None
    status: str = "running"
    error: str = ""
    overrides: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    machine: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict, repr=False)
    outside_grid: bool = False
    protocol: dict[str, Any] = field(default_factory=dict)

    # -- writing (the pipeline) ------------------------------------------------------------------------------
    def fail(self, err: BaseException) -> None:
        """Record a failure as one line: exception type and message."""
        self.status = "failed"
        self.error = f"{type(err).__name__}: {' '.join(str(err).split())}"

    def write(self) -> Path:
        """Write ``run.json`` (atomically, so a report never reads half a file)."""
        assert self.run_dir is not None
        payload = {
            "name": self.name,
            "profile": self.profile,
            "seed": self.seed,
            "status": self.status,
            "error": self.error,
            "overrides": list(self.overrides),
            "data": self.data,
            "stages": self.stages,
            "wall_s": round(time.time() - self.started, 2),
            "machine": self.machine,
            "python": platform.python_version(),
        }
        if self.protocol:
            payload["protocol"] = self.protocol
            payload["selection"] = self.protocol.get("selection", "val")
        return write_json_atomic(self.run_dir / RUN_JSON, payload)

    # -- reading (reports, probes) ---------------------------------------------------------------------------
    @classmethod
    def read(cls, run_dir: Path) -> RunRecord:
        """One job folder as a record; never raises for a broken job (it becomes status ``missing``)."""
        run_dir = Path(run_dir)
        cfg = read_config(run_dir) or {}
        run = (read_json(run_dir / RUN_JSON) if (run_dir / RUN_JSON).exists() else None) or {}
        overrides = run.get("overrides")
        if overrides is None:  # run.json predates the field: Hydra's own copy of the task overrides
            overrides = _read_yaml(run_dir / ".hydra" / "overrides.yaml") or []
        seed = run.get("seed", cfg.get("seed"))
        rec = cls(
            run_dir=run_dir,
            name=str(run.get("name") or cfg.get("name") or run_dir.name),
            profile=str(run.get("profile") or _get(cfg, "profile.name") or "unknown"),
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            status=str(run.get("status", "missing")) if run else "missing",
            error=str(run.get("error") or "") if run else "no run.json (job killed or crashed)",
            overrides=[str(o) for o in overrides],
            data=run.get("data") or {},
            stages=run.get("stages") or {},
            machine=str(run.get("machine") or ""),
            protocol=run.get("protocol") or {},
            extra={k: v for k, v in run.items() if k not in _RUN_FIELDS},
            config=cfg,
        )
        if rec.status == "ok" and not (run_dir / rec.stage / "metrics.json").is_file():
            rec.status, rec.error = "missing", f"no {rec.stage}/metrics.json"
        return rec

    @property
    def stage(self) -> str:
        """The stage whose metrics stand for the run: the last one the config asked for (else the last that ran)."""
        # A job that never ran borrows a sibling's config (``load_runs``), whose stages need not be its own.
        stages = (self.config.get("stages") if self.run_dir else None) or list(self.stages)
        # No config and nothing recorded: the last stage that has results.
        if not stages and self.run_dir is not None:
            stages = [s for s in STAGES if (self.run_dir / s / "metrics.json").is_file()]
        return str((stages or STAGES)[-1])

    @property
    def cell(self) -> dict[str, str]:
        """The job's sweep cell: its overrides as ``{key: value}`` (``+`` prefixes and Hydra's keys dropped)."""
        return parse_overrides(self.overrides)

    def value(self, key: str) -> str:
        """The job's value of ``key`` (``experiment``, ``seed``, ``data.sim_seed`` ...), canonical (``canonical``).

        The override when the job has one, else the composed config's value; ``data.phylo_signal`` is None for
        real images (the ForamSim λ in their config means nothing).
        """
        if key == "data.phylo_signal":
            return canonical(self.phylo_signal)
        if key in self.cell:
            return canonical(self.cell[key])
        if key == "experiment":
            return self.name
        if key == "seed":
            return canonical(self.seed)
        path = _CONFIG_PATH.get(key, key)
        value = _get(self.config, path)
        if isinstance(value, str) and "${" in value:  # .hydra/config.yaml keeps interpolations unresolved
            value = _resolve(self.config, path, value)
        return canonical(value)

    @property
    def synthetic(self) -> bool:
        """Whether the job ran on generated images (its data facts say ``synthetic``; ForamSim until they do)."""
        return self.data.get("synthetic") is not False

    @property
    def phylo_signal(self) -> float | None:
        """ForamSim's λ; None for real images."""
        if not self.synthetic:
            return None
        value = self.cell.get("data.phylo_signal", self.data.get("phylo_signal"))
        if value is None:
            value = _get(self.config, "data.phylo_signal")
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    def raw_metrics(self, stage: str | None = None) -> dict[str, Any]:
        """``<stage>/metrics.json`` as written (default: ``self.stage``); {} without a folder or file."""
        if self.run_dir is None:
            return {}
        return read_metrics(self.run_dir / (stage or self.stage))

    def metrics(self, stage: str | None = None) -> dict[str, float]:
        """The numeric metrics of a stage, ``{"test/knn/acc": 0.83, ...}`` (undefined = NaN); {} unless ok."""
        if self.status != "ok":
            return {}
        return metric_values(self.raw_metrics(stage))

    @property
    def k(self) -> int | None:
        """The KNN's k the run was evaluated with (``metrics.json``, else the config)."""
        k = self.raw_metrics().get("k", _get(self.config, "callbacks.knn_eval.k"))
        return int(k) if k is not None else None

    @property
    def knn_metric(self) -> str | None:
        """The KNN's distance (``euclidean`` / ``cosine``) the run was evaluated with."""
        m = self.raw_metrics().get("metric", _get(self.config, "callbacks.knn_eval.metric"))
        return None if m is None else str(m)


_RUN_FIELDS = {
    "name",
    "profile",
    "seed",
    "status",
    "error",
    "overrides",
    "data",
    "stages",
    "machine",
    "protocol",
}


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        return None
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return None


def _resolve(cfg: dict[str, Any], dotted: str, raw: str) -> Any:
    """``dotted``'s value with OmegaConf interpolations resolved (``${data.image_size}`` -> 64); ``raw`` if it cannot be."""
    from omegaconf import OmegaConf

    try:
        return OmegaConf.select(OmegaConf.create(cfg), dotted, throw_on_resolution_failure=True)
    except Exception:  # e.g. a ${hydra:...} resolver, which exists only inside a running job
        return raw


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
