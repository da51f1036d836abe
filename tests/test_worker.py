"""The worker with a fake evaluate: specs it sends, progress, FINISHED and FAILED rows."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from backend.executors import LocalExecutor
from backend.worker import Worker
from submissions.record import SubmissionRecord
from submissions.store import FAILED, FINISHED, PENDING, RUNNING, Store
from tests.fake_clock import FakeClock


def make_record(settings=("single", "lifelong"), config="strength: 2.5") -> SubmissionRecord:
    return SubmissionRecord(
        model_id="org/model",
        revision="a" * 40,
        model_type="medical",
        editor="prompt",
        editor_config=config,
        config_hash="c" * 64,
        settings=tuple(settings),
        submitter="Ada",
        organisation="Lab",
        contact="ada@example.org",
    )


def fake_result(spec) -> dict:
    return {
        "setting": spec.setting,
        "benchmark": {"cases": 4},
        "metrics": {"overall": {"reliability": {"mean": 0.5, "ci95": [0.25, 0.75]}}},
    }


@pytest.fixture
def clock() -> FakeClock:
    """The store's clock: leases expire only when a test advances it."""
    return FakeClock()


@pytest.fixture
def store(tmp_path, clock) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", clock=clock)
    yield store
    store.close()


def test_run_once_on_an_empty_queue_does_nothing(store):
    worker = Worker(store, LocalExecutor(lambda spec, progress: {}), benchmark="bench")
    assert worker.run_once() is False


def test_a_request_goes_pending_running_finished_with_one_result_per_setting(store):
    row = store.add_request(make_record())
    seen: list[tuple] = []

    def evaluate(spec, progress):
        for done in range(1, 5):
            progress(done, 4)
        expected = 4 if spec.setting == "single" else 8
        deadline = time.monotonic() + 10
        while (current := store.get_request(row.id)).progress_done != expected:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)  # the heartbeat thread writes progress
        seen.append((spec, current.state, current.progress_done, current.progress_total))
        return fake_result(spec)

    assert store.get_request(row.id).state == PENDING
    worker = Worker(store, LocalExecutor(evaluate), benchmark="/data/bench", lease_s=0.3)
    assert worker.run_once() is True

    specs = [s[0] for s in seen]
    assert [s.setting for s in specs] == ["single", "lifelong"]
    assert {(s.split, s.seed, s.model, s.revision, s.editor) for s in specs} == {
        ("hidden", 0, "org/model", "a" * 40, "prompt")
    }
    # the stored config passes through unparsed, with the hash it was accepted with
    assert specs[0].config == "strength: 2.5" and specs[0].config_hash == "c" * 64
    assert specs[0].benchmark == "/data/bench"
    assert [(state, done, total) for _, state, done, total in seen] == [
        (RUNNING, 4, 8),
        (RUNNING, 8, 8),
    ]
    finished = store.get_request(row.id)
    assert finished.state == FINISHED and finished.lease_owner is None
    assert sorted(r.setting for r in store.results()) == ["lifelong", "single"]


def test_an_exception_marks_the_request_failed_with_reason_and_log_tail(store):
    row = store.add_request(make_record(settings=("single",)))

    def evaluate(spec, progress):
        logging.getLogger("evaluator.test").warning("loading %s", spec.model)
        raise RuntimeError("CUDA out of memory\nTried to allocate 2 GiB")

    Worker(store, LocalExecutor(evaluate), benchmark="bench").run_once()
    failed = store.get_request(row.id)
    assert failed.state == FAILED
    assert failed.error == "RuntimeError: CUDA out of memory"
    assert "loading org/model" in failed.log_tail
    assert "Traceback" in failed.log_tail and "Tried to allocate 2 GiB" in failed.log_tail
    assert len(failed.log_tail.splitlines()) <= 50
    assert store.results() == []


def test_a_worker_whose_lease_was_taken_over_does_not_write_results(store, clock):
    row = store.add_request(make_record(settings=("single",)))
    started, release = threading.Event(), threading.Event()

    def evaluate(spec, progress):
        started.set()
        release.wait(5)
        return fake_result(spec)

    slow = Worker(store, LocalExecutor(evaluate), benchmark="b", lease_s=10, heartbeat_s=60)
    thread = threading.Thread(target=slow.run_once)
    thread.start()
    assert started.wait(10), "the slow worker never started its run"
    rescuer = Worker(store, LocalExecutor(lambda spec, progress: fake_result(spec)), benchmark="b")
    clock.advance(9)
    assert rescuer.run_once() is False  # the lease still holds
    clock.advance(2)  # the lease expires: no heartbeat within 60 s
    assert rescuer.run_once() is True
    release.set()
    thread.join()
    done = store.get_request(row.id)
    assert done.state == FINISHED and done.attempts == 2
    assert len(store.results()) == 1


def test_run_forever_stops_when_asked(store):
    store.add_request(make_record(settings=("single",)))
    stop = threading.Event()
    worker = Worker(store, LocalExecutor(lambda spec, progress: fake_result(spec)), benchmark="b")
    thread = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"idle_s": 0.05})
    thread.start()
    deadline = time.monotonic() + 10
    while store.list_requests([FINISHED]) == [] and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(store.list_requests([FINISHED])) == 1
