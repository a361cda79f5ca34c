"""`visgen report` end to end: a fixture multirun in, the table out; a bad folder is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from report_fixtures import make_job, metrics_of

from visgen.cli import main


def test_report_cli_writes_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    multirun = tmp_path / "paper_table_quick"
    for seed, rare in enumerate([0.2, 0.4]):
        make_job(multirun, "ltr", seed, metrics=metrics_of(0.8, rare))
    assert main(["report", str(multirun), "--out", str(tmp_path / "reports")]) == 0
    md = tmp_path / "reports" / "paper_table_quick.md"
    assert "| ltr | 1 | pretrain | 2/2 | 80.0 ± 0.0 | 80.0 ± 0.0 | 30.0 ± 14.1 |" in md.read_text()
    assert str(md) in capsys.readouterr().out.splitlines()


def test_report_cli_on_a_missing_folder_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "visgen.cli", "report", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and "absent" in proc.stderr
    assert "Traceback" not in proc.stderr
