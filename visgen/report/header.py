"""The facts above the paper table: profile, data source, seeds, date, machine, command (pure, torch-free)."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import yaml

from visgen.results import RunRecord
from visgen.sim import settings as sim_settings


def knob_templates() -> list[tuple[str, str, object]]:
    """(dataset.json key, phrase, off value) shown after λ, scale and size: every ForamSim setting that has a header
    phrase (visgen/sim/settings.py), then the generator version."""
    return [*sim_settings.header_knobs(), ("generator_version", "generator v{}", None)]


def describe_data(records: Sequence[RunRecord]) -> str:
    """One phrase for the header: ForamSim (synthetic) with its λ values and scale, or real images."""
    datas = [r.data for r in records if r.data]
    if not datas:
        return "unknown (no run.json with data facts)"
    real = [d for d in datas if d.get("synthetic") is False]
    if real:
        roots = sorted({str(d.get("root", "?")) for d in real})
        return f"real images ({', '.join(roots)})"
    lams = sorted({float(d["phylo_signal"]) for d in datas if "phylo_signal" in d}, reverse=True)
    scales = sorted({float(d["scale"]) for d in datas if "scale" in d})
    sizes = sorted({int(d["size"]) for d in datas if "size" in d})
    text = (
        f"ForamSim — SYNTHETIC images, λ ∈ {{{', '.join(f'{x:g}' for x in lams)}}}, "
        f"scale {', '.join(f'{x:g}' for x in scales)}, {', '.join(map(str, sizes))} px"
    )
    # The difficulty knobs and the generator version decide what a number means: a table must carry them.
    for key, template, off in knob_templates():
        values = sorted({str(d[key]) for d in datas if key in d})
        if values and values != [str(off)]:  # a knob every run left off says nothing
            text += ", " + template.format("/".join(values))
    return text


def _machine(records: Sequence[RunRecord]) -> str:
    machines = sorted({r.machine for r in records if r.machine})
    if machines:
        return "; ".join(machines)
    # run.json did not record where it trained: say so rather than pretend the report host trained.
    return f"not recorded by the runs; report written on {platform.node()} ({os.cpu_count()} CPUs)"


def sweep_command(multirun_dir: Path) -> str:
    """``python run.py -m <overrides>`` as the sweep was launched (from ``multirun.yaml``), or ``""``."""
    path = multirun_dir / "multirun.yaml"
    if not path.exists():
        return ""

    try:
        task = ((yaml.safe_load(path.read_text()) or {}).get("hydra", {}).get("overrides") or {}).get(
            "task"
        ) or []
    except yaml.YAMLError:
        return ""
    return " ".join(["python run.py -m", *map(str, task)])


def header_lines(records: Sequence[RunRecord], multirun_dirs: Sequence[Path]) -> list[str]:
    """The facts above the table: profile, data source, seeds, date, machine, the command of each sweep."""
    profiles = sorted({r.profile for r in records})
    seeds = sorted({r.seed for r in records if r.seed is not None})
    walls = [
        float(v)
        for r in records
        for k, v in r.extra.items()
        if k.startswith("wall") and isinstance(v, int | float)
    ]
    lines = [
        f"- **profile**: {', '.join(profiles)}",
        f"- **data**: {describe_data(records)}",
        f"- **seeds**: {', '.join(map(str, seeds)) or '–'} (mean ± sample std over the seeds that finished)",
        f"- **date**: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- **machine**: {_machine(records)}",
        f"- **source**: {', '.join(f'`{d}`' for d in multirun_dirs)} ({len(records)} jobs); "
        f"`visgen report {' '.join(map(str, multirun_dirs))}`",
    ]
    for multirun_dir in multirun_dirs:
        command = sweep_command(multirun_dir)
        if command:
            lines.append(f"- **command**: `{command}`")
        # Older GPU sweeps (before run.json named the GPU) left the accelerator in device.txt beside the jobs.
        device = multirun_dir / "device.txt"
        if device.exists():
            lines.append(f"- **device** (from `device.txt`): {' '.join(device.read_text().split())}")
    if walls:
        lines.append(f"- **wall time** (sum over the jobs' run.json): {sum(walls) / 60:.1f} min")
    return lines
