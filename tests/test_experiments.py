"""Experiment files, the paper-table sweep and the SLURM launcher, composed against the real conf/."""

from __future__ import annotations

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from tests.pipeline_fixtures import CONF, compose_cfg
from visgen.run.cache import config_hash, pretrain_relevant

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
# Table 1 rows 1-7, Fig. 9a, weight-balancing variants and the controls (the lead's decided list).
DECIDED = {
    "tl", "tl_softmax", "rtl", "rtl_softmax", "ltr", "align", "ltr_align", "imagenet_align", "wb", "wb_align",
    "ltr_align_shuffled", "ltr_align_random", "ltr_align_centred", "baseline",
    # the authors' protocol on the claims rows
    "ltr_authors", "ltr_align_authors",
    # the equiangular anchor control and the rebalancing rows on ltr's frozen trunk
    "ltr_align_equiangular", "ltr_plain", "ltr_crt", "ltr_tau_norm", "ltr_logit_adjust", "ltr_ncm",
    # the peers' (CLIBD-style) alignment: image head and DNA tower trained with InfoNCE
    "ltr_contrastive",
}  # fmt: skip
# Outside the paper table: held-out species recognised from their DNA (conf/sweep/gzsl.yaml).
GZSL = {"gzsl", "gzsl_kshot", "gzsl_bioscan5m"}


def _compose(*overrides: str, hydra: bool = False) -> DictConfig:
    return compose_cfg(list(overrides), hydra=hydra)


def test_every_decided_row_has_a_file() -> None:
    assert set(EXPERIMENTS) == DECIDED | GZSL


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_file_header_and_name(experiment: str) -> None:
    lines = (CONF / "experiment" / f"{experiment}.yaml").read_text().splitlines()
    assert lines[0] == "# @package _global_"
    assert lines[1].startswith("# Hypothesis: ") and len(lines[1]) > 40
    assert lines[2].startswith(f"# Run: python run.py +experiment={experiment}")
    assert len(lines) <= 30
    cfg = _compose(f"+experiment={experiment}")
    assert cfg.name == experiment  # the report's row key


@pytest.mark.parametrize(
    ("experiment", "loss", "ltr", "stages", "anchor_mode", "control"),
    [
        ("tl", "tl", "none", ["pretrain"], "raw", "none"),
        ("rtl_softmax", "rtl_softmax", "none", ["pretrain"], "raw", "none"),
        ("ltr", "rtl_softmax", "weight_decay", ["pretrain"], "raw", "none"),
        ("align", "rtl_softmax", "none", ["pretrain", "align"], "raw", "none"),
        ("ltr_align", "rtl_softmax", "weight_decay", ["pretrain", "align"], "raw", "none"),
        ("imagenet_align", "rtl_softmax", "none", ["align"], "raw", "none"),
        ("wb_align", "rtl_softmax", "weight_balancing", ["pretrain", "align"], "raw", "none"),
        ("ltr_align_shuffled", "rtl_softmax", "weight_decay", ["pretrain", "align"], "raw", "shuffled"),
        ("ltr_align_random", "rtl_softmax", "weight_decay", ["pretrain", "align"], "raw", "random"),
        ("ltr_align_centred", "rtl_softmax", "weight_decay", ["pretrain", "align"], "centred", "none"),
    ],
)
def test_rows_set_what_the_paper_row_means(
    experiment: str, loss: str, ltr: str, stages: list[str], anchor_mode: str, control: str
) -> None:
    cfg = _compose(f"+experiment={experiment}")
    reference = _compose(f"loss={loss}")
    assert OmegaConf.to_container(cfg.loss) == OmegaConf.to_container(reference.loss)
    assert (cfg.ltr.name, list(cfg.stages)) == (ltr, stages)
    assert (cfg.align.anchor_mode, cfg.align.control) == (anchor_mode, control)


def _pretrain_key(experiment: str, *more: str) -> str:
    return config_hash(pretrain_relevant(_compose(f"+experiment={experiment}", *more)))


@pytest.mark.parametrize(
    ("producer", "consumers"),
    [
        (
            "ltr",
            [
                "ltr_align",
                "ltr_align_shuffled",
                "ltr_align_random",
                "ltr_align_centred",
                "ltr_align_equiangular",
                "ltr_plain",
                "ltr_crt",
                "ltr_tau_norm",
                "ltr_logit_adjust",
                "ltr_ncm",
                "ltr_contrastive",
            ],
        ),
        ("ltr_authors", ["ltr_align_authors"]),
        ("rtl_softmax", ["align", "baseline"]),
        ("wb", ["wb_align"]),
    ],
)
def test_rows_that_share_a_pretraining_share_its_cache_key(producer: str, consumers: list[str]) -> None:
    key = _pretrain_key(producer)
    assert all(_pretrain_key(c) == key for c in consumers)
    # ... and the λ = 0 control is a different pretraining (its images differ).
    assert _pretrain_key(producer, "data.phylo_signal=0") != key


def test_distinct_pretrainings_have_distinct_keys() -> None:
    producers = ["tl", "tl_softmax", "rtl", "rtl_softmax", "ltr", "wb", "ltr_authors"]
    assert len({_pretrain_key(p) for p in producers}) == len(producers)


def _sweep_jobs(*extra: str) -> list[list[str]]:
    cfg = _compose("+sweep=paper_table", *extra, hydra=True)
    params = [f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()]
    overrides = OverridesParser.create().parse_overrides([*params, *extra])
    return BasicSweeper.split_arguments(overrides, None)[0]


def test_paper_table_sweep_expands_to_rows_x_lambdas_x_seeds() -> None:
    jobs = [dict(o.split("=", 1) for o in job) for job in _sweep_jobs()]
    experiments = [j["+experiment"] for j in jobs]
    assert len(jobs) == 22 * 2 * 3
    assert set(experiments) == DECIDED - {"baseline"}  # baseline is rtl_softmax under its README name
    # Seed outermost: the first 44 jobs are seed 0's whole grid (a sweep cut short leaves complete seeds).
    assert {j["seed"] for j in jobs[:44]} == {"0"} and {j["seed"] for j in jobs[44:]} == {"1", "2"}
    # Producers first: every pretraining a later row reuses was asked for before that row.
    for producer, consumer in [
        ("rtl_softmax", "align"), ("ltr", "ltr_align"), ("wb", "wb_align"), ("ltr", "ltr_crt"),
        ("ltr_authors", "ltr_align_authors"), ("ltr", "ltr_contrastive"),
    ]:  # fmt: skip
        assert experiments.index(producer) < experiments.index(consumer)


def test_sweep_jobs_get_distinct_readable_folders() -> None:
    jobs = _sweep_jobs("seed=0")  # a command-line override narrows the grid, as with Hydra
    assert len(jobs) == 22 * 2
    subdirs = set()
    for job in jobs:
        cfg = _compose("+sweep=paper_table", *job, hydra=True)
        subdirs.add(OmegaConf.to_container(cfg.hydra.sweep, resolve=True)["subdir"])
    assert len(subdirs) == len(jobs) and "ltr_align/lambda0.0_seed0" in subdirs
    cfg = _compose("+sweep=paper_table", hydra=True)
    assert cfg.hydra.sweep.dir == "multirun/paper_table_quick" and cfg.sweep_name == "paper_table_quick"


def test_slurm_launcher_composes_with_one_task_per_gpu() -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")  # the optional `visgen[slurm]` extra
    cfg = _compose(
        "hydra/launcher=slurm", "hydra.launcher.nodes=2", "hydra.launcher.gpus_per_node=4", hydra=True
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.nodes, launcher.gpus_per_node, launcher.tasks_per_node) == (2, 4, 4)


def test_wandb_groups_a_sweeps_runs() -> None:
    cfg = _compose("+sweep=paper_table", "logger=wandb", "+experiment=ltr", hydra=True)
    assert OmegaConf.to_container(cfg.logger, resolve=True)["group"] == "paper_table_quick"
    assert _compose("logger=wandb").logger.group is None  # a single run has no group


@pytest.mark.parametrize("args", [[], ["GRID=full", "SEEDS=0"], ["GRID=full", "SEEDS=0", "REPLICATES="]])
def test_the_paper_table_targets_sweep_known_rows_and_report_every_folder_they_fill(args: list[str]) -> None:
    import re
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = CONF.parent
    dry = subprocess.run(
        ["make", "-n", "paper-table", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    grid = set(
        OmegaConf.load(CONF / "sweep" / "paper_table.yaml").hydra.sweeper.params["+experiment"].split(",")
    )
    for rows in re.findall(r"\+experiment=(\S+)", dry):
        assert set(rows.split(",")) <= grid, rows
    filled = re.findall(r"hydra\.sweep\.dir=(\S+)", dry)
    (report,) = [line for line in dry.splitlines() if "visgen report" in line]
    # The default sweep writes multirun/paper_table_quick (the sweep file's own dir) without naming it; the first
    # folder given to the report names it (reports/paper_table_quick_full.md for GRID=full).
    dirs = report.split()[2:-2]
    assert sorted([*filled, *(["multirun/paper_table_quick"] if not args else [])]) == sorted(dirs), dry
    assert dirs[0] == ("multirun/paper_table_quick_full" if args else "multirun/paper_table_quick")


def test_the_knn_index_enters_the_cache_key_only_when_approximate() -> None:
    flat = pretrain_relevant(_compose("+experiment=ltr"))
    # Cache entries written before the index was a choice hold exactly these KNN facts: they stay valid.
    assert flat["knn"] == {"k": 5, "metric": "euclidean"}
    assert _pretrain_key("ltr", "callbacks.knn_eval.index_settings.nprobe=4") == config_hash(flat)
    hnsw = _pretrain_key("ltr", "callbacks.knn_eval.index=hnsw")
    assert hnsw != config_hash(flat)
    assert (
        _pretrain_key(
            "ltr", "callbacks.knn_eval.index=hnsw", "callbacks.knn_eval.index_settings.ef_search=16"
        )
        != hnsw
    )
