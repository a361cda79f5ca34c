"""The real Hydra config composes for every experiment and profile, and its objects instantiate."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tests.bioscan5m_fixtures import write_mini_bioscan5m
from tests.pipeline_fixtures import CONF, compose_cfg
from visgen.results import STAGES
from visgen.run.cache import config_hash, pretrain_relevant
from visgen.run.checks import check_config
from visgen.run.pipeline import build_datamodule

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def _compose(*overrides: str, hydra: bool = False) -> DictConfig:
    return compose_cfg(list(overrides), hydra=hydra)


def test_train_yaml_has_no_experiment_default() -> None:
    # `+experiment=x` must work, which it only does when train.yaml does not already define the group.
    defaults = OmegaConf.load(CONF / "train.yaml").defaults
    assert not any("experiment" in str(d) for d in defaults)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_file_is_a_delta_with_a_hypothesis(experiment: str) -> None:
    lines = (CONF / "experiment" / f"{experiment}.yaml").read_text().splitlines()
    assert lines[0] == "# @package _global_"
    assert lines[1].startswith("# Hypothesis:") or lines[1].startswith("# ")
    assert len(lines) <= 40, "experiments are deltas; shared parts belong in a group default"


@pytest.mark.parametrize("profile", ["quick", "paper"])
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_instantiates(experiment: str, profile: str, tmp_path: Path) -> None:
    cfg = _compose(f"+experiment={experiment}", f"profile={profile}", f"cache_dir={tmp_path}")
    if cfg.data.source == "bioscan5m":  # a real data set's experiment: pointed at the miniature of it
        cfg.data.root = str(write_mini_bioscan5m(tmp_path / "data"))
    OmegaConf.resolve(cfg)  # every interpolation resolves
    assert cfg.name == experiment, "each experiment sets `name` to its file name (the report's row key)"
    assert cfg.profile.name == profile
    assert set(cfg.stages) <= set(STAGES)
    check_config(cfg)  # every row passes the pre-build checks (the rebalancing rows: stages and method)
    dm = build_datamodule(cfg)  # construction only: no ForamSim generation here
    assert type(dm).__name__ == "ForamImageDataModule"
    net = instantiate(cfg.model.net, num_classes=3, trunk="resnet18")  # resnet18: keep the test cheap
    assert net(__import__("torch").zeros(2, 3, 32, 32))["embedding"].shape == (2, cfg.model.net.embedding_dim)
    optimizer = instantiate(cfg.model.optimizer)(net.parameters())
    assert optimizer.param_groups[0]["weight_decay"] == cfg.ltr.weight_decay
    if cfg.loss.metric is not None:
        instantiate(cfg.loss.metric)
    instantiate(cfg.align.loss)
    for node in cfg.callbacks.values():
        instantiate(node)
    instantiate(cfg.logger, save_dir=str(tmp_path))
    if profile == "quick":  # the paper trainer asks for a GPU, which this machine may not have
        trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
        assert trainer.max_epochs == cfg.trainer.max_epochs


def test_profiles_set_the_paper_scale() -> None:
    paper = _compose("+experiment=ltr_align", "profile=paper")
    assert (paper.data.scale, paper.data.image_size, paper.model.net.trunk) == (1.0, 224, "resnet50")
    assert (paper.trainer.max_epochs, paper.align.epochs) == (20, 5)
    assert paper.trainer.precision == "bf16-mixed" and paper.model.channels_last
    quick = _compose("+experiment=ltr_align")
    assert quick.profile.name == "quick" and quick.trainer.precision == "32-true"


def test_ltr_groups_set_weight_decay() -> None:
    assert _compose("ltr=none").model.optimizer.weight_decay == 0.0
    assert _compose("ltr=weight_decay").model.optimizer.weight_decay == pytest.approx(5e-3)
    wb = _compose("ltr=weight_balancing")
    assert wb.ltr.balancing and wb.ltr.stage2.epochs >= 1


def test_pretrain_cache_key_ignores_alignment_and_speed_knobs() -> None:
    base = config_hash(pretrain_relevant(_compose("+experiment=ltr_align")))
    # Alignment choices and pure speed knobs must reuse the same pretraining ...
    for same in (
        "align.anchor_mode=centred",
        "align.control=shuffled",
        "data.num_workers=7",
        "model.compile=true",
    ):
        assert config_hash(pretrain_relevant(_compose("+experiment=ltr_align", same))) == base, same
    # ... while anything that changes the pretrained weights or their cached KNN test must not.
    for diff in (
        "seed=1",
        "ltr=none",
        "loss=tl",
        "data.phylo_signal=0",
        "data.sim_intra_spread=0.9",
        "trainer.max_epochs=9",
        "callbacks.knn_eval.metric=cosine",
    ):
        assert config_hash(pretrain_relevant(_compose("+experiment=ltr_align", diff))) != base, diff


def test_every_forams_sim_setting_is_part_of_the_pretrain_cache_key() -> None:
    # No knob is left out of the key at a "neutral" value any more: a pretraining cached before
    # visgen/sim/settings.py (when data.sim_convergent=0 was dropped from the key) retrains once.
    cfg = _compose("+experiment=ltr_align")
    relevant = pretrain_relevant(cfg)
    assert relevant["data"]["sim_convergent"] == 0 and relevant["data"]["sim_convergent_skip"] == 0
    base = config_hash(relevant)
    for knob in (
        "data.sim_convergent=2",
        "data.sim_convergent_skip=14",
        "data.sim_seed=1",
        "data.sim_nuisance=0.7",
    ):
        assert config_hash(pretrain_relevant(_compose("+experiment=ltr_align", knob))) != base, knob


@pytest.mark.parametrize(
    ("overrides", "locks"),
    [
        ((), True),
        (("trainer=gpu",), True),
        (("trainer=gpu", "trainer.devices=[1]"), True),
        (("trainer=ddp",), False),
        (("trainer=ddp_cpu",), False),
        (("trainer=gpu", "+trainer.num_nodes=2"), False),
    ],
)
def test_only_one_process_jobs_take_the_pretrain_lock(overrides: tuple[str, ...], locks: bool) -> None:
    # DDP ranks of one job train together; a rank waiting on its own job's lock would deadlock.
    from visgen.run.pretrain import one_process

    assert one_process(_compose(*overrides)) is locks
