"""check_config on the real composed config: every shipped experiment passes, each bad override is named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.bioscan5m_fixtures import write_mini_bioscan5m
from tests.pipeline_fixtures import CONF, compose_cfg
from visgen.errors import UserInputError
from visgen.run.checks import check_config

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("profile", ["quick", "paper"])
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_shipped_experiment_passes(experiment: str, profile: str, tmp_path: Path) -> None:
    cfg = compose_cfg([f"+experiment={experiment}", f"profile={profile}"])
    if cfg.data.source == "bioscan5m":  # a real data set's experiment: pointed at the miniature of it
        cfg.data.root = str(write_mini_bioscan5m(tmp_path))
    check_config(cfg)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=abc", r"^seed=abc: the seed must be an integer, e.g. seed=0$"),
        ("seed=1.5", r"^seed=1.5: the seed must be an integer"),
        ("stages=[train]", r"^stages=\['train'\]: unknown stage\(s\) \['train'\]; use \[pretrain\]"),
        ("stages=[]", r"^stages=\[\]: unknown stage"),
        ("ckpt_path=/nonexistent/last.ckpt", r"^ckpt_path=/nonexistent/last.ckpt: no such checkpoint file"),
        (
            "data.phylo_signal=2",
            r"^config: data.phylo_signal \(Pagel's lambda\) must lie in \[0, 1\], got 2$",
        ),
        ("data.scale=0", r"^config: data.scale must be > 0 \(e.g. 0.05\), got 0$"),
        ("data.sim_convergent=9", r"^config: data.sim_convergent must be an integer in \[0, 8\], got 9$"),
        ("data.image_size=16", r"^config: data.sim_size must lie in \[32, 1024\] pixels, got 16$"),
        ("data.sim_nuisance=abc", r"^config: data.sim_nuisance must be >= 0, got 'abc'$"),
        (
            "data.sim_convergent_skip=25",
            r"^config: data.sim_convergent_skip \+ data.sim_convergent must be <= 24 .*, got 25 \+ 0$",
        ),
        ("trainer.max_epochs=abc", r"^trainer.max_epochs=abc: must be an integer >= 1$"),
        ("data.batch_size=0", r"^data.batch_size=0: must be an integer >= 1$"),
        ("data.num_workers=-1", r"^data.num_workers=-1: must be an integer >= 0$"),
        (
            "callbacks.knn_eval.metric=manhattan",
            r"^callbacks.knn_eval.metric=manhattan: unknown value; use one",
        ),
        ("callbacks.knn_eval.k=0", r"^callbacks.knn_eval.k=0: must be an integer >= 1 \(the paper: 5\)$"),
        (
            "callbacks.knn_eval.index=ivf",
            r"^callbacks.knn_eval.index=ivf: unknown index; use one of flat, ivf_flat, ivf_pq, hnsw$",
        ),
        (
            "callbacks.knn_eval.index_settings.nprobe=0",
            r"^callbacks.knn_eval.index_settings.nprobe=0: must be an integer >= 1$",
        ),
        (
            "callbacks.knn_eval.index_settings.nlist=-3",
            r"^callbacks.knn_eval.index_settings.nlist=-3: must be an integer >= 1 or null$",
        ),
        (
            "callbacks.knn_eval.index_settings.pq_nbits=20",
            r"^callbacks.knn_eval.index_settings.pq_nbits=20: at most 16; 8 is the usual$",
        ),
        (
            "callbacks.knn_eval.index_settings.gpu=maybe",
            r"^callbacks.knn_eval.index_settings.gpu=maybe: must be true or false$",
        ),
        (
            "+callbacks.knn_eval.index_settings.nprob=4",
            r"^callbacks.knn_eval.index_settings.nprob: unknown setting; use one of add_batch, ",
        ),
        (
            "callbacks.knn_eval.index_settings.train_size=100",  # pq_nbits stays at its default 8
            r"^callbacks.knn_eval.index_settings.train_size=100: fewer than the 2\^pq_nbits=256 PQ centroids; ",
        ),
        (
            "callbacks.knn_eval.index_settings.nlist=8",  # nprobe stays at its default 16
            r"^callbacks.knn_eval.index_settings.nprobe=16: more than nlist=8 cells; lower nprobe to <= nlist$",
        ),
        (
            "align.anchor_mode=foo",
            r"^align.anchor_mode=foo: unknown value; use one of raw, centred, whitened$",
        ),
        (
            "align.control=permuted",
            r"^align.control=permuted: unknown value; use one of none, shuffled, random, equiangular$",
        ),
        ("align.epochs=0", r"^align.epochs=0: must be an integer >= 1"),
        ("align.reuse_features=true", r"^align.reuse_features=true needs data.augment.train=false"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_its_key(override: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        check_config(compose_cfg(["+experiment=ltr_align", override]))


def test_every_index_with_its_settings_passes() -> None:
    for kind in ("flat", "ivf_flat", "ivf_pq", "hnsw"):
        check_config(compose_cfg(["+experiment=ltr", f"callbacks.knn_eval.index={kind}"]))
    check_config(compose_cfg(["+experiment=ltr", "callbacks.knn_eval.index_settings.nlist=64"]))


def test_alignment_keys_are_not_checked_when_alignment_does_not_run() -> None:
    check_config(compose_cfg(["+experiment=ltr", "align.anchor_mode=foo"]))


def test_an_existing_checkpoint_and_real_images_pass(tmp_path: Path) -> None:
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(b"")
    # Real images: ForamSim's knobs are not used, so an out-of-range λ is not the run's problem.
    check_config(
        compose_cfg(
            ["+experiment=ltr_align", "data=endless_forams", f"data.root={tmp_path}", f"ckpt_path={ckpt}",
             "data.phylo_signal=2"]
        )
    )  # fmt: skip


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ([], "data.root is not set; point it at a folder with one sub-folder per species"),
        (["data.root=/no/such/folder"], "/no/such/folder: image folder not found; set data.root to a folder"),
    ],
)
def test_a_folder_dataset_without_its_folder_is_refused_by_the_config_check(
    root: list[str], message: str
) -> None:
    with pytest.raises(UserInputError, match=f"^{re.escape(message)}"):
        check_config(compose_cfg(["+experiment=ltr_align", "data=endless_forams", *root]))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("align.objective=clip", r"^align.objective=clip: unknown value; use one of cosine, contrastive$"),
        (
            "align.sampling=instance_uniform_negative",
            r"^align.sampling=instance_uniform_negative: align.objective",
        ),
        (
            "align.reuse_features=true",
            r"^align.reuse_features=true: not implemented for align.objective=contrastive",
        ),
        (
            "align.ce_weight=0.5",
            r"^align.ce_weight=0.5: the contrastive objective leaves the classifier frozen",
        ),
        ("align.contrastive.kmer=0", r"^align.contrastive.kmer=0: must be an integer >= 1 \(e.g. 5\)$"),
        ("align.contrastive.kmer=9", r"^align.contrastive.kmer=9: at most 8"),
    ],
)
def test_the_contrastive_objective_refuses_what_it_cannot_combine_with(override: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        check_config(compose_cfg(["+experiment=ltr_contrastive", "data.augment.train=false", override]))
