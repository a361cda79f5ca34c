"""Paired comparison of alignment variants over ForamSim draws and seeds (experiments/paper_table/README.md).

Reads the job folders of one or more Hydra multiruns of ``+experiment=ltr_align`` that reused cached
pretrainings. Each job folder holds both numbers a comparison needs: ``pretrain/metrics.json`` (the cached
LTR pretraining's test metrics) and ``align/metrics.json``. A variant is the job's overrides other than the
cell keys (seed, ForamSim draw, control, sweep bookkeeping); cells pair by (draw, seed).

    python experiments/paper_table/align_probes.py multirun/align_probes/*  > reports/align_probes_quick.md
    python experiments/paper_table/align_probes.py --classifier ncm multirun/align_probes/*

Prints a markdown table: per variant, alignment − LTR (genetic anchors) and genetic − shuffled anchors,
mean over cells with the paired standard error, in percentage points, for rare / per-class / overall
accuracy — of the paper's 5-NN vote (``test/knn/*``, default) or of nearest-class-mean prediction
(``--classifier ncm``, ``test/ncm/*``; jobs whose metrics predate it are left out and counted on stderr).
Torch-free: runs anywhere the run folders and visgen are.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from visgen.results import RunRecord, find_job_dirs

METRICS = {"rare": "rare_acc", "per-class": "per_class_acc", "overall": "acc"}  # under test/<classifier>/
_CELL_KEYS = {
    "seed",
    "data.sim_seed",
    "align.control",
    "experiment",
    "sweep",
    "sweep_name",
    "callbacks.progress_bar",
}
_SETTING_KEYS = {"profile", "data.phylo_signal"}  # read from the composed config instead (defaults included)
#: The anchor controls of the paper table, as experiments (``+sweep=paper_table``) or as ``align.control``.
_CONTROL_EXPERIMENTS = {"ltr_align": "none", "ltr_align_shuffled": "shuffled", "ltr_align_random": "random"}
CONTROLS = ("shuffled", "random")


def read_job(job: Path, classifier: str = "knn") -> dict | None:
    """One finished job: its variant, cell, control and the two stages' metrics under ``classifier``
    (None if not ok, or if its metrics have no ``test/<classifier>/*``)."""
    record = RunRecord.read(job)  # status, profile and λ as the paper-table report reads them
    if record.status != "ok":
        return None
    overrides = record.cell  # the job's overrides, "+" prefixes dropped
    experiment = overrides.get("experiment", "ltr_align")
    if experiment not in _CONTROL_EXPERIMENTS:
        return None
    skip = _CELL_KEYS | _SETTING_KEYS
    variant = " ".join(f"{k}={v}" for k, v in sorted(overrides.items()) if k not in skip)
    metrics = {s: record.raw_metrics(s) for s in ("pretrain", "align")}
    keys = {k: f"test/{classifier}/{m}" for k, m in METRICS.items()}
    if any(key not in metrics[s] for s in metrics for key in keys.values()):
        return None
    return {
        "variant": variant or "(default)",
        "setting": (record.profile, record.phylo_signal),
        "cell": (int(overrides.get("data.sim_seed", 0)), int(overrides.get("seed", 0))),
        "control": overrides.get("align.control", _CONTROL_EXPERIMENTS[experiment]),
        "pretrain": {k: 100 * metrics["pretrain"][m] for k, m in keys.items()},
        "align": {k: 100 * metrics["align"][m] for k, m in keys.items()},
    }


def mean_se(diffs: list[float]) -> str:
    """``+1.2 (0.4)``: the mean and its standard error (sample std / sqrt n)."""
    if not diffs:
        return "–"
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    return f"{statistics.fmean(diffs):+.1f} ({se:.1f})"


def table(jobs: list[dict]) -> str:
    """The markdown table of paired differences per variant."""
    by = defaultdict(dict)  # ((profile, λ, variant), control) -> cell -> job
    for job in jobs:
        by[(*job["setting"], job["variant"]), job["control"]][job["cell"]] = job
    heads = ["align − LTR"] + [f"genetic − {c}" for c in CONTROLS]
    lines = [
        "| profile | λ | variant | cells | LTR rare | aligned rare | "
        + " | ".join(f"{h}: rare | per-class | overall" for h in heads)
        + " |",
        "|---" * (6 + 3 * len(heads)) + "|",
    ]
    for variant in sorted({v for v, _ in by}, key=lambda v: (v[0], -v[1], v[2] != "(default)", v[2])):
        genetic = by.get((variant, "none"), {})
        if not genetic:
            continue
        cells = [mean_se([g["align"][k] - g["pretrain"][k] for g in genetic.values()]) for k in METRICS]
        for control in CONTROLS:
            other = by.get((variant, control), {})
            paired = sorted(genetic.keys() & other.keys())
            cells += [
                mean_se([genetic[c]["align"][k] - other[c]["align"][k] for c in paired]) for k in METRICS
            ]
        ltr, aligned = ([g[s]["rare"] for g in genetic.values()] for s in ("pretrain", "align"))
        lines.append(
            f"| {variant[0]} | {variant[1]:g} | `{variant[2]}` | {len(genetic)} | {statistics.fmean(ltr):.1f} | {statistics.fmean(aligned):.1f} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", choices=("knn", "ncm"), default="knn")
    parser.add_argument("dirs", nargs="+", help="multirun folders of ltr_align jobs")
    args = parser.parse_args(argv)
    folders = [job for d in args.dirs for job in find_job_dirs(Path(d))]
    jobs = [j for job in folders if (j := read_job(job, args.classifier))]
    if not jobs:
        sys.exit(f"no finished ltr_align jobs with test/{args.classifier}/* under {args.dirs}")
    if len(jobs) < len(folders):
        print(f"{len(folders) - len(jobs)} of {len(folders)} job folders left out (not ok, not an "
              f"ltr_align row, or no test/{args.classifier}/*)", file=sys.stderr)  # fmt: skip
    print(table(jobs))


if __name__ == "__main__":
    main(sys.argv[1:])
