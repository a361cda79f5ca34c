"""Where a run or a benchmark ran, in one line: host, CPU model and count, GPU, torch (for run.json and reports)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe_machine() -> str:
    """``host: N × GPU; CPU (k CPUs); torch X`` — the GPU part only where CUDA sees one.

    Imports torch lazily, so torch-free callers (reports) can import this module.
    """
    parts = [f"{platform.node()}:"]
    try:
        import torch

        if torch.cuda.is_available():
            names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
            parts.append(f"{torch.cuda.device_count()} × {' / '.join(names)};")
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    parts.append(f"{cpu_model()} ({os.cpu_count()} CPUs); torch {torch_version}")
    return " ".join(parts)
