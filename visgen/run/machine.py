"""Where a run or a benchmark ran, in one line: host, CPU model and count, GPU, torch, its CPU kernels and threads.

The same command gives bit-identical numbers on one machine and different ones on another CPU of the same kind
(a GZSL table rerun on a 2-core AVX512 machine moved a permutation p from 0.11 to 0.05): which vector kernels
torch picked and how many threads it ran are part of what a number means, so every run and report names them.
"""

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
    """``host: N × GPU; CPU (k CPUs); torch X (CPU capability AVX2, 1 thread)`` — the GPU part only where CUDA sees one.

    Imports torch lazily, so torch-free callers (reports) can import this module.
    """
    parts = [f"{platform.node()}:"]
    try:
        import torch

        if torch.cuda.is_available():
            names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
            parts.append(f"{torch.cuda.device_count()} × {' / '.join(names)};")
        threads = torch.get_num_threads()
        torch_version = (
            f"{torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()}, "
            f"{threads} thread{'s' if threads != 1 else ''})"
        )
    except ImportError:
        torch_version = "not installed"
    parts.append(f"{cpu_model()} ({os.cpu_count()} CPUs); torch {torch_version}")
    return " ".join(parts)
