"""run.py under Hydra's root log handler: each Lightning line once, no advertising tip."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import lightning  # noqa: F401  (its import adds the console handler this removes)
import pytest

_spec = importlib.util.spec_from_file_location("run_script", Path(__file__).resolve().parents[1] / "run.py")
assert _spec is not None and _spec.loader is not None
run_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_script)


def test_lightning_lines_print_once_and_tips_not_at_all(caplog: pytest.LogCaptureFixture) -> None:
    lightning_log = logging.getLogger("lightning")
    lightning_log.addHandler(logging.StreamHandler())  # what `import lightning` installs
    assert logging.getLogger().handlers  # pytest's capture handler stands in for Hydra's
    run_script._one_copy_of_each_log_line()
    run_script._one_copy_of_each_log_line()  # idempotent: one filter, not two
    assert not [h for h in lightning_log.handlers if type(h) is logging.StreamHandler]
    tips = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    assert sum(isinstance(f, run_script._NoTips) for f in tips.filters) == 1
    with caplog.at_level(logging.INFO):
        tips.info("💡 Tip: install something")
        tips.info("GPU available: False")
    assert "Tip" not in caplog.text and "GPU available: False" in caplog.text
