"""Two submitit tasks (the local executor, CPU) join one DDP group: a fit and test through them gathers the KNN
evaluation across both tasks and gives exactly the metrics a single process gets from the fitted weights.

This is the SLURM launcher's path (``hydra/launcher=slurm``, ``tasks_per_node`` tasks per job) without a
cluster: submitit starts the tasks, each task exports submitit's rank and world size for ``torch.distributed``
(under SLURM, Lightning reads them from SLURM's variables instead), and Lightning sees externally created
processes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import lightning as L
import pytest
import submitit
import torch
import torch.distributed
from tiny_forams import SIZES, TinyDataModule, tiny_module

from visgen.callbacks.knn_eval import KnnEvalCallback

HERE = Path(__file__).resolve().parent
BATCH = 4


def _trainer(out_dir: Path, devices: int, **kwargs: Any) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu", devices=devices, max_epochs=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, default_root_dir=out_dir,
        callbacks=[KnnEvalCallback(k=5, out_dir=out_dir)], **kwargs,
    )  # fmt: skip


def fit_and_test_task(out_dir: Path) -> dict[str, Any]:
    """One submitit task: join the group, fit one epoch, test, save the weights (rank 0 writes)."""
    torch.set_num_threads(1)  # two tasks share the 2 cores
    env = submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    os.environ["MASTER_ADDR"] = "127.0.0.1"  # one machine: no hostname lookup
    trainer = _trainer(out_dir, devices=env.local_world_size, strategy="ddp", num_nodes=1)
    module, dm = tiny_module(), TinyDataModule(batch_size=BATCH)
    trainer.fit(module, datamodule=dm)
    trainer.save_checkpoint(out_dir / "fitted.ckpt")
    trainer.test(module, datamodule=dm)
    return {
        "rank": trainer.global_rank,
        "world_size": trainer.world_size,
        "train_batches": trainer.num_training_batches,
        "weights": torch.cat([p.detach().flatten() for p in module.parameters()]),
    }


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_two_submitit_tasks_fit_as_one_ddp_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tasks are fresh interpreters: they import this module's helpers from the same paths pytest uses.
    paths = [str(HERE), str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # An earlier DDP test in this worker (Lightning's ddp_fork) leaves its rendezvous in os.environ; submitit refuses to
    # export over it, and the tasks must join their own group anyway.
    for key in (
        "MASTER_ADDR",
        "MASTER_PORT",
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "NODE_RANK",
        "LOCAL_WORLD_SIZE",
    ):
        monkeypatch.delenv(key, raising=False)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    executor = submitit.LocalExecutor(folder=tmp_path / "submitit")
    executor.update_parameters(tasks_per_node=2, nodes=1, timeout_min=10)
    job = executor.submit(fit_and_test_task, tmp_path / "ddp")
    tasks = sorted(job.results(), key=lambda r: r["rank"])

    assert [(t["rank"], t["world_size"]) for t in tasks] == [(0, 2), (1, 2)]
    # Each task trained on its half of the 21 training images (11 after the sampler's padding): one group,
    # not two single-process fits, which would each see all 21 in 6 batches.
    assert [t["train_batches"] for t in tasks] == [3, 3]
    # DDP averaged the gradients, so both tasks ended the fit with the same weights.
    torch.testing.assert_close(tasks[0]["weights"], tasks[1]["weights"], atol=0, rtol=0)

    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    module = tiny_module()
    module.load_state_dict(torch.load(tmp_path / "ddp" / "fitted.ckpt", weights_only=False)["state_dict"])
    torch.testing.assert_close(
        torch.cat([p.detach().flatten() for p in module.parameters()]), tasks[0]["weights"], atol=0, rtol=0
    )
    _trainer(tmp_path / "single", devices=1).test(module, datamodule=TinyDataModule(batch_size=BATCH))
    single = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert ddp["n_queries"] == SIZES["test"] and ddp["n_gallery"] == SIZES["train"]  # padding dropped
    assert ddp == single
