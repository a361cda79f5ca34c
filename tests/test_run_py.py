"""``python run.py`` as a user types it: one ``error:`` line and exit 2, a typo refused before Lightning loads,
a sweep that records a failing job and goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run_py(*overrides: str, timeout: int, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``python run.py <flags> +experiment=ltr_align data=endless_forams <overrides>`` as a user types it."""
    command = [sys.executable, "run.py", *flags, "+experiment=ltr_align", "data=endless_forams", *overrides]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _errors(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``error:`` lines of a run that exited 2 without a traceback."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    return [line for line in proc.stderr.splitlines() if line.startswith("error: ")]


def test_user_error_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = _run_py(
        f"data.root={tmp_path}/missing",
        f"hydra.run.dir={tmp_path}/out",
        f"cache_dir={tmp_path}/cache",
        timeout=120,
    )
    errors = _errors(proc)
    assert len(errors) == 1 and "missing" in errors[0]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["status"] == "failed"


def test_a_config_typo_is_refused_before_anything_trains(tmp_path: Path) -> None:
    # align.anchor_mode is used only when alignment starts; the check must refuse it before pretraining.
    proc = _run_py("align.anchor_mode=centered", f"hydra.run.dir={tmp_path}/out", timeout=120)
    assert _errors(proc) == [
        "error: align.anchor_mode=centered: unknown value; use one of raw, centred, whitened"
    ]
    assert not (tmp_path / "out" / "pretrain").exists()
    assert json.loads((tmp_path / "out" / "run.json").read_text())["status"] == "failed"


def test_the_run_owner_loads_neither_torch_nor_lightning_before_the_config_check() -> None:
    # What makes the typo above cost ~3 s instead of ~11 s: the stages (and Lightning) load after check_config.
    probe = "import sys, visgen.run.pipeline; print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_multirun_records_a_failing_job_and_goes_on(tmp_path: Path) -> None:
    # Two jobs that both fail on user input: the sweep must run both and say why in each run.json.
    proc = _run_py(
        f"data.root={tmp_path}/missing_a,{tmp_path}/missing_b",
        f"hydra.sweep.dir={tmp_path}/sweep",
        f"cache_dir={tmp_path}/cache",
        timeout=180,
        flags=("-m",),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "sweep").glob("*/run.json"))]
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert "missing_a" in records[0]["error"] and "missing_b" in records[1]["error"]
    # Each job records its sweep cell, the task overrides it ran with (Hydra's own hydra.* keys are not task ones).
    assert f"data.root={tmp_path}/missing_a" in records[0]["overrides"]
    assert f"data.root={tmp_path}/missing_b" in records[1]["overrides"]
    assert not any(o.startswith("hydra.") for r in records for o in r["overrides"])
