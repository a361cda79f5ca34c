"""Content-addressed cache of pretraining runs, so a sweep never trains the same pretraining twice.

The cache key is a hash of the resolved, pretraining-relevant part of the config (data, model, loss,
LTR, the trainer keys that change the numbers, profile, seed, monitored metric, KNN settings). A folder counts as
complete only once ``complete.json`` exists, written last and atomically; a folder without it holds an
interrupted run whose ``last.ckpt`` the pipeline resumes.

Jobs of a parallel sweep (SLURM) that need the same pretraining serialise on ``<root>/<hash>.lock``
(``fcntl.flock``: released by the kernel when a job dies, so a crash never leaves a stale lock). The first job
trains; the others wait, then find the folder complete and reuse it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from visgen.results import EMBEDDINGS_NPZ, METRICS_JSON, STAGE_OUTPUTS

log = logging.getLogger(__name__)

MARKER = "complete.json"
# data.* keys that change speed, never results: left out of the pretrain cache key.
SPEED_ONLY_DATA = ("num_workers", "device_resident")
# trainer.* keys that change the numbers a pretraining produces (the rest is hardware or logging).
RESULT_TRAINER = (
    "max_epochs",
    "precision",
    "check_val_every_n_epoch",
    "accumulate_grad_batches",
    "gradient_clip_val",
)


def config_hash(relevant: Mapping[str, Any]) -> str:
    """Return a short, order-independent hash of a plain (already resolved) config mapping.

    Args:
        relevant: JSON-serialisable mapping (numbers, strings, lists, dicts).

    Returns:
        16 hex digits of the SHA-256 of the canonical JSON (sorted keys, no whitespace).
    """
    blob = json.dumps(relevant, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class PretrainCache:
    """One cache folder ``<root>/<hash>/`` holding ``best.ckpt``, ``last.ckpt``, outputs and a marker.

    Args:
        root: the cache root for pretraining (``<cache_dir>/pretrain``).
        relevant: the pretraining-relevant config (see ``config_hash``); stored as ``config.json``.
    """

    def __init__(self, root: Path, relevant: Mapping[str, Any]) -> None:
        self.key = config_hash(relevant)
        self.dir = Path(root) / self.key
        self.relevant = dict(relevant)

    @property
    def best(self) -> Path:
        """Checkpoint selected on the validation metric."""
        return self.dir / "best.ckpt"

    @property
    def last(self) -> Path:
        """Checkpoint of the last finished epoch (resumes an interrupted run)."""
        return self.dir / "last.ckpt"

    @property
    def marker(self) -> Path:
        """Completion marker, written last."""
        return self.dir / MARKER

    @property
    def lock_path(self) -> Path:
        """Lock file beside the folder (outside it, so cleaning a folder never removes a held lock)."""
        return self.dir.parent / f"{self.key}.lock"

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold this pretraining's lock: check ``is_complete`` and train inside it, and no other job trains too.

        Blocks (logging why) while another process holds the lock. On a filesystem without ``flock`` it
        warns and runs unlocked, as before this lock existed. Not for the ranks of one DDP job: they all
        train the same pretraining together, and a rank waiting for its own job's lock would deadlock.
        """
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as handle:
            locked = self._acquire(handle)
            try:
                yield
            finally:
                if locked:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _acquire(self, handle: Any) -> bool:
        """Take the lock on ``handle``, waiting if another job has it; False where flock is unsupported."""
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info(
                    "pretraining %s is being trained by another job: waiting for %s", self.key, self.lock_path
                )
                fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as err:
            log.warning(
                "cannot lock %s (%s): parallel jobs may train pretraining %s twice",
                self.lock_path,
                err,
                self.key,
            )
            return False
        return True

    def is_complete(self) -> bool:
        """Whether a previous run finished this pretraining, test outputs included."""
        return (
            self.marker.is_file()
            and self.best.is_file()
            and all((self.dir / n).is_file() for n in (METRICS_JSON, EMBEDDINGS_NPZ))
        )

    def prepare(self) -> None:
        """Create the folder and record the config it stands for (for people browsing the cache)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "config.json").write_text(
            json.dumps(self.relevant, indent=2, sort_keys=True, default=str)
        )

    def store_outputs(self, stage_dir: Path) -> None:
        """Copy a finished stage's test outputs from the run folder into the cache."""
        for name in STAGE_OUTPUTS:
            if (stage_dir / name).is_file():
                shutil.copy2(stage_dir / name, self.dir / name)

    def restore_outputs(self, stage_dir: Path) -> None:
        """Copy the cached test outputs into a new run folder (a reused pretraining)."""
        stage_dir.mkdir(parents=True, exist_ok=True)
        for name in STAGE_OUTPUTS:
            if (self.dir / name).is_file():
                shutil.copy2(self.dir / name, stage_dir / name)

    def reuse_note(self, device: str, cpu_threads: int) -> str | None:
        """Why a reused CPU pretraining may differ in the last bits from training it here, or None.

        Float reductions on the CPU depend on the thread count (measured: 1 and 2 threads give different weights),
        which the key leaves out so that a cache stays usable across machines; the marker records both.

        Args:
            device: where this process would train (``"cpu"``, ``"cuda"``).
            cpu_threads: ``torch.get_num_threads()`` here.
        """
        info = json.loads(self.marker.read_text())
        trained, threads = info.get("device"), info.get("cpu_threads")
        if trained != "cpu" or device != "cpu" or threads is None or int(threads) == cpu_threads:
            return None
        return (
            f"pretraining {self.key} was trained with {threads} CPU thread(s), this process has {cpu_threads}: "
            "training it here could differ in the last bits (the cache key leaves the thread count out)"
        )

    def mark_complete(self, info: Mapping[str, Any]) -> None:
        """Write the marker atomically, so a crash can never leave a half-written 'complete' folder."""
        tmp = self.marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({**info, "finished_at": time.time()}, indent=2, default=str))
        os.replace(tmp, self.marker)


def pretrain_relevant(cfg: DictConfig) -> dict[str, Any]:
    """The part of the config a pretraining's result depends on (its cache key)."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    for key in SPEED_ONLY_DATA:
        data.pop(key, None)
    data.get("augment", {}).pop("channels_last", None)  # memory layout only
    model = OmegaConf.to_container(cfg.model, resolve=True)
    model.pop("compile", None)
    model.pop("channels_last", None)
    model["net"].pop("channels_last", None)
    trainer = {k: cfg.trainer.get(k) for k in RESULT_TRAINER}
    return {
        "data": data,
        "model": model,
        "loss": OmegaConf.to_container(cfg.loss, resolve=True),
        "ltr": OmegaConf.to_container(cfg.ltr, resolve=True),
        "trainer": trainer,
        "profile": cfg.profile.name,
        "seed": int(cfg.seed),
        "monitor": cfg.monitor,
        # selection=test picks the checkpoint on the test split (protocol=authors): another best.ckpt.
        "selection": str(cfg.selection),
        # The checkpoint is chosen on val/knn/acc and the cached test outputs are KNN results, so the KNN
        # settings are part of what a cached pretraining means.
        "knn": _knn_key(cfg.callbacks.knn_eval),
    }


def _knn_key(knn: Any) -> dict[str, Any]:
    """The KNN settings a cached pretraining depends on; the exact flat index adds nothing, so cache entries
    written before the index became a choice keep their key."""
    key = {name: knn.get(name) for name in ("k", "metric")}
    if knn.get("index", "flat") != "flat":
        settings = OmegaConf.to_container(knn.get("index_settings") or {}, resolve=True)
        settings.pop("_target_", None)
        key.update(index=knn.index, index_settings=settings)
    return key
