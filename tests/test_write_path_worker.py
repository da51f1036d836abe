"""The per-request wall-clock limit: a run past it is stopped, its request FAILED with that
reason, and the worker moves on to the next request; the process executor kills a stuck run."""

from __future__ import annotations

import multiprocessing
import threading
import time
from types import SimpleNamespace

import pytest

from backend.executors import (
    LocalExecutor,
    ProcessExecutor,
    RayExecutor,
    _child_run,
    _relay,
    make_executor,
)
from backend.worker import Worker
from contract import limits
from submissions.record import SubmissionRecord
from submissions.store import FAILED, FINISHED, Store
from tests.write_path_children import failing_evaluate, quick_result, sleepy_evaluate


def make_record(n: int, settings: tuple[str, ...] = ("single",)) -> SubmissionRecord:
    return SubmissionRecord(
        model_id=f"org/model-{n}",
        revision="a" * 40,
        model_type="medical",
        editor="ike",
        editor_config="demonstrations: 1",
        config_hash="c" * 64,
        settings=settings,
        submitter="Ada",
        organisation="Lab",
        contact="ada@example.org",
    )


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


def test_a_run_reporting_progress_past_the_limit_is_failed_and_the_worker_moves_on(store):
    slow = store.add_request(make_record(1, ("single", "lifelong")))
    fast = store.add_request(make_record(2))
    cases_seen = []

    def evaluate(spec, progress):
        if spec.model == "org/model-2":
            return quick_result(spec, progress)
        for case in range(1000):  # 50 ms per case: far more than the 0.3 s limit
            time.sleep(0.05)
            cases_seen.append(case)
            progress(case + 1, 1000)
        return quick_result(spec, progress)

    worker = Worker(store, LocalExecutor(evaluate), benchmark="b", run_timeout_s=0.3)
    started = time.monotonic()
    assert worker.run_once() is True
    elapsed = time.monotonic() - started
    failed = store.get_request(slow.id)
    assert failed.state == FAILED
    assert failed.error.startswith(
        "timed out: the evaluation ran past its wall-clock limit of 0.3 s"
    )
    assert elapsed < 2.0 and len(cases_seen) < 20  # stopped at its next progress report
    assert store.results() == []
    assert worker.run_once() is True
    assert store.get_request(fast.id).state == FINISHED


def test_a_stuck_in_process_run_is_abandoned_after_the_grace_period(store):
    stuck = store.add_request(make_record(1))
    after = store.add_request(make_record(2))
    release = threading.Event()

    def evaluate(spec, progress):
        if spec.model == "org/model-1":
            release.wait(30)  # no progress report: only the deadline can end the wait
        return quick_result(spec, progress)

    worker = Worker(
        store, LocalExecutor(evaluate), benchmark="b", run_timeout_s=0.2, timeout_grace_s=0.2
    )
    started = time.monotonic()
    worker.run_once()
    assert time.monotonic() - started < 3.0
    assert store.get_request(stuck.id).state == FAILED
    assert "wall-clock limit" in store.get_request(stuck.id).error
    worker.run_once()
    assert store.get_request(after.id).state == FINISHED
    release.set()


def test_the_process_executor_kills_a_stuck_run_at_the_limit(store):
    row = store.add_request(make_record(1))
    executor = ProcessExecutor(sleepy_evaluate, kill_after_s=2.0)
    worker = Worker(store, executor, benchmark="b", run_timeout_s=4.0, timeout_grace_s=5.0)
    started = time.monotonic()
    worker.run_once()
    assert time.monotonic() - started < 9.0
    failed = store.get_request(row.id)
    assert failed.state == FAILED and "wall-clock limit of 4 s" in failed.error
    assert executor._process is not None and not executor._process.is_alive()
    assert executor._process.exitcode is not None
    assert not [p for p in multiprocessing.active_children() if p.name == "mme-evaluation"]


def test_the_process_executor_relays_progress_and_results(store):
    ok = store.add_request(make_record(1))
    worker = Worker(store, ProcessExecutor(quick_result), benchmark="b", run_timeout_s=60)
    worker.run_once()
    done = store.get_request(ok.id)
    assert done.state == FINISHED and done.progress_done == done.progress_total == 2
    assert isinstance(make_executor("process"), ProcessExecutor)


def test_a_child_error_comes_back_as_the_same_exception_and_a_dead_child_is_reported():
    receive, send = multiprocessing.Pipe(duplex=False)
    spec = SimpleNamespace(model="org/model-2", setting="single")
    _child_run(failing_evaluate, spec, send)
    with pytest.raises(ValueError, match="org/model-2 has no layer 99"):
        _relay(receive, SimpleNamespace(join=lambda s: None, exitcode=0), lambda d, t: None)
    receive, send = multiprocessing.Pipe(duplex=False)
    send.close()  # the child died before sending anything
    with pytest.raises(RuntimeError, match="exit code -9"):
        _relay(receive, SimpleNamespace(join=lambda s: None, exitcode=-9), lambda d, t: None)


def test_the_default_limit_is_sized_for_the_hardware_and_configurable(monkeypatch):
    monkeypatch.delenv(limits.RUN_TIMEOUT_ENV, raising=False)
    monkeypatch.setattr(limits, "has_gpu", lambda: True)
    assert limits.run_timeout_s() == limits.RUN_TIMEOUT_S_GPU == 6 * 3600
    monkeypatch.setattr(limits, "has_gpu", lambda: False)
    assert limits.run_timeout_s() == limits.RUN_TIMEOUT_S_CPU
    monkeypatch.setenv(limits.RUN_TIMEOUT_ENV, "90")
    assert limits.run_timeout_s() == 90.0
    assert Worker(None, LocalExecutor(quick_result), benchmark="b").run_timeout_s == 90.0
    monkeypatch.setenv(limits.RUN_TIMEOUT_ENV, "-1")
    with pytest.raises(ValueError, match="MME_RUN_TIMEOUT_S"):
        limits.run_timeout_s()


def test_the_ray_executor_cancels_a_stuck_task_at_the_limit(store):
    row = store.add_request(make_record(1))
    executor = RayExecutor(evaluate=sleepy_evaluate, num_gpus=0)
    try:
        worker = Worker(store, executor, benchmark="b", run_timeout_s=2.0, timeout_grace_s=30)
        started = time.monotonic()
        worker.run_once()
        elapsed = time.monotonic() - started
    finally:
        executor.close()
    assert elapsed < 10.0, elapsed  # cancelled at once, not after the 30 s grace
    failed = store.get_request(row.id)
    assert failed.state == FAILED and "wall-clock limit of 2 s" in failed.error
