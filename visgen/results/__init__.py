"""The run-folder schema: the one writer and reader of ``run.json``, ``config.yaml``, ``metrics.json``,
``embeddings.npz``, ``per_species.csv``, ``anchors.npy``, the name of ``splits.csv`` and the stage names, and the grouping of jobs by sweep axis (torch-free).

Reading a sweep::

    from visgen.results import load_runs, group, varying_axes, t_interval
    records = load_runs(["multirun/paper_table_quick"])          # list[RunRecord], missing jobs included
    axes = varying_axes(records)                                  # e.g. ["experiment", "data.sim_seed"]
    for cell, recs in group(records, axes).items():
        accs = [r.metrics()["test/knn/acc"] for r in recs if r.status == "ok"]
        mean, half = t_interval(accs)                             # 95 % t interval, df = n - 1
"""

from visgen.results.files import (
    ANCHORS_NPY,
    CONFIG_YAML,
    EMBEDDINGS_NPZ,
    METRICS_JSON,
    PER_SPECIES_CSV,
    RUN_JSON,
    SPLITS_CSV,
    STAGE_OUTPUTS,
    STAGES,
    annotate_metrics,
    per_species_accuracy,
    read_anchors,
    read_config,
    read_embeddings,
    read_metrics,
    read_per_species,
    read_permutation_null,
    read_training_log,
    write_anchors,
    write_config,
    write_embeddings,
    write_metrics,
    write_per_species,
    write_permutation_null,
)
from visgen.results.record import RunRecord, canonical
from visgen.results.stats import t_interval
from visgen.results.sweep import (
    REPLICATE,
    as_dirs,
    expected_cells,
    find_job_dirs,
    group,
    load_runs,
    varying_axes,
)

__all__ = [
    "ANCHORS_NPY", "CONFIG_YAML", "EMBEDDINGS_NPZ", "METRICS_JSON", "PER_SPECIES_CSV", "REPLICATE", "RUN_JSON",
    "SPLITS_CSV", "STAGES", "STAGE_OUTPUTS", "RunRecord", "annotate_metrics", "as_dirs", "canonical",
    "expected_cells", "find_job_dirs", "group", "load_runs", "per_species_accuracy", "read_anchors", "read_config",
    "read_embeddings", "read_metrics", "read_per_species", "read_permutation_null", "read_training_log",
    "t_interval", "varying_axes", "write_anchors", "write_config", "write_embeddings", "write_metrics",
    "write_per_species", "write_permutation_null",
]  # fmt: skip
