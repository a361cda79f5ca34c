"""The pretrain cache's lock: parallel jobs sharing a pretraining train it once; a dead holder frees it."""

from __future__ import annotations

import fcntl
import multiprocessing as mp
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from visgen.run.cache import PretrainCache

# fork: the child only takes a file lock, and a forked child needs no importable entry point.
CTX = mp.get_context("fork")


def _hold(cache: PretrainCache, held: Any, release: Any, done_marker: Path) -> None:
    """Child job: take the lock, say so, wait to be released, finish the 'training', leave."""
    with cache.exclusive():
        held.set()
        release.wait(timeout=60)
        done_marker.write_text("trained")


def _cache(tmp_path: Path) -> PretrainCache:
    return PretrainCache(tmp_path / "pretrain", {"seed": 0})


def _locked_elsewhere(cache: PretrainCache) -> bool:
    with open(cache.lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def test_a_second_job_waits_until_the_first_has_finished(tmp_path: Path) -> None:
    cache, marker = _cache(tmp_path), tmp_path / "first_job_done"
    held, release = CTX.Event(), CTX.Event()
    first = CTX.Process(target=_hold, args=(cache, held, release, marker))
    first.start()
    assert held.wait(timeout=30)
    assert _locked_elsewhere(cache)

    seen: list[bool] = []

    def second_job() -> None:
        with cache.exclusive():
            seen.append(marker.exists())  # inside the lock the first job's result must already be there

    waiter = threading.Thread(target=second_job)
    waiter.start()
    time.sleep(0.2)  # give the waiter time to block on the lock (a broken lock would let it in now)
    release.set()
    waiter.join(timeout=30)
    first.join(timeout=30)
    assert seen == [True]
    assert not _locked_elsewhere(cache)


def test_a_killed_job_does_not_leave_a_stale_lock(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    held, release = CTX.Event(), CTX.Event()
    job = CTX.Process(target=_hold, args=(cache, held, release, tmp_path / "never"))
    job.start()
    assert held.wait(timeout=30)
    job.kill()
    job.join(timeout=30)
    assert not _locked_elsewhere(cache)
    with cache.exclusive():
        pass
    assert not (tmp_path / "never").exists()


def test_without_flock_support_the_run_goes_on_unlocked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_locks(*_args: object) -> None:
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    ran = []
    with _cache(tmp_path).exclusive():
        ran.append(True)
    assert ran == [True]
    assert "parallel jobs may train" in caplog.text


@pytest.mark.parametrize(
    ("trained", "here", "says"),
    [
        ({"device": "cpu", "cpu_threads": 1}, ("cpu", 2), True),  # the measured case: 1 vs 2 threads differ
        ({"device": "cpu", "cpu_threads": 2}, ("cpu", 2), False),
        (
            {"device": "cuda", "cpu_threads": 1},
            ("cuda", 16),
            False,
        ),  # GPU training: CPU threads do not matter
        ({"device": "cpu", "cpu_threads": 1}, ("cuda", 16), False),  # nothing to compare against here
        ({}, ("cpu", 2), False),  # entries cached before the marker recorded either: unknown, no claim
    ],
)
def test_reuse_note_names_a_cpu_thread_count_that_differs(
    tmp_path: Path, trained: dict[str, Any], here: tuple[str, int], says: bool
) -> None:
    cache = _cache(tmp_path)
    cache.prepare()
    cache.mark_complete({"best": "best.ckpt", **trained})
    note = cache.reuse_note(*here)
    assert (note is not None) == says
    if says:
        assert "trained with 1 CPU thread(s), this process has 2" in note
