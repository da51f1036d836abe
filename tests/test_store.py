"""The queue store: states, atomic claims, leases, reaping, results."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta

import pytest

from submissions.record import SubmissionRecord
from submissions.store import (
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    DuplicateRequestError,
    LeaseLostError,
    Store,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_record(n: int = 0, **overrides: object) -> SubmissionRecord:
    values: dict[str, object] = {
        "model_id": f"org/model-{n}",
        "revision": "0" * 40,
        "model_type": "medical",
        "editor": "prompt",
        "editor_config": "",
        "config_hash": "c" * 64,
        "settings": ("single",),
        "submitter": "Ada",
        "organisation": "Lab",
        "contact": "ada@example.org",
    }
    values.update(overrides)
    return SubmissionRecord(**values)  # type: ignore[arg-type]


def result_json(reliability: float) -> dict:
    return {
        "metrics": {"overall": {"reliability": {"mean": reliability, "ci95": [0.0, 1.0]}}},
        "efficiency": {"edit_latency_s": {"mean": 0.25}, "peak_memory_mb": 12.0},
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path, clock) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", clock=clock)
    yield store
    store.close()


def test_store_creates_its_sqlite_file_in_wal_mode_on_first_use(tmp_path):
    path = tmp_path / "nested" / "store.db"
    store = Store(f"sqlite:///{path}")
    with store.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    store.close()
    assert path.exists()
    assert mode == "wal"


def test_record_round_trips_through_the_store(store):
    record = make_record(settings=("single", "lifelong"), description="two\nlines")
    row = store.add_request(record)
    assert store.get_request(row.id).record == record
    assert row.state == PENDING and row.attempts == 0
    assert row.request_key == record.request_key


def test_request_key_ignores_settings_order_but_not_revision():
    a = make_record(settings=("single", "lifelong"))
    assert a.request_key == make_record(settings=("lifelong", "single")).request_key
    assert (
        a.request_key != make_record(settings=("single", "lifelong"), revision="1" * 40).request_key
    )


def test_duplicate_of_an_active_request_is_refused_with_a_pointer(store):
    first = store.add_request(make_record())
    with pytest.raises(DuplicateRequestError) as err:
        store.add_request(make_record())
    assert err.value.existing_id == first.id
    assert f"#{first.id}" in str(err.value) and "PENDING" in str(err.value)
    assert store.count_requests() == 1


def test_a_cancelled_request_may_be_submitted_again(store):
    first = store.add_request(make_record())
    assert store.cancel(first.id)
    second = store.add_request(make_record())
    assert second.id != first.id
    assert store.get_request(first.id).state == CANCELLED


def test_only_pending_requests_can_be_cancelled(store):
    row = store.add_request(make_record())
    store.claim("w1", 30)
    assert not store.cancel(row.id)
    assert store.get_request(row.id).state == RUNNING


def test_claim_takes_the_oldest_pending_first_and_queue_positions_follow(store, clock):
    ids = []
    for n in range(3):
        ids.append(store.add_request(make_record(n)).id)
        clock.advance(1)
    assert [store.queue_position(i) for i in ids] == [1, 2, 3]
    claimed = store.claim("w1", 30)
    assert claimed.id == ids[0] and claimed.state == RUNNING and claimed.attempts == 1
    assert claimed.lease_owner == "w1"
    assert claimed.lease_expires_at == clock.now + timedelta(seconds=30)
    assert [store.queue_position(i) for i in ids] == [None, 1, 2]


def test_claim_on_an_empty_queue_returns_none(store):
    assert store.claim("w1", 30) is None


def test_heartbeat_extends_only_the_owners_lease_and_records_progress(store, clock):
    row = store.add_request(make_record())
    store.claim("w1", 10)
    clock.advance(5)
    assert store.heartbeat(row.id, "w1", 10, done=3, total=8)
    assert not store.heartbeat(row.id, "intruder", 100, done=99, total=99)
    now = store.get_request(row.id)
    assert now.lease_expires_at == clock.now + timedelta(seconds=10)
    assert (now.progress_done, now.progress_total) == (3, 8)


def test_only_the_lease_owner_saves_results_finishes_or_fails(store):
    row = store.add_request(make_record())
    store.claim("w1", 30)
    with pytest.raises(LeaseLostError, match="w2"):
        store.save_result(row.id, "w2", "single", result_json(1.0))
    with pytest.raises(LeaseLostError):
        store.finish(row.id, "w2")
    with pytest.raises(LeaseLostError):
        store.fail(row.id, "w2", "boom")
    assert store.get_request(row.id).state == RUNNING


def test_finished_results_are_listed_with_their_sort_columns(store):
    row = store.add_request(make_record(settings=("single", "lifelong")))
    store.claim("w1", 30)
    store.save_result(row.id, "w1", "single", result_json(0.5))
    store.save_result(row.id, "w1", "single", result_json(0.75))  # a retry replaces
    store.save_result(row.id, "w1", "lifelong", result_json(0.25))
    assert store.results() == []  # not finished yet
    store.finish(row.id, "w1")
    results = {r.setting: r for r in store.results()}
    assert set(results) == {"single", "lifelong"}
    assert results["single"].result["metrics"]["overall"]["reliability"]["mean"] == 0.75
    assert results["single"].model_id == "org/model-0"
    with store.engine.connect() as conn:
        sort_row = conn.exec_driver_sql(
            "SELECT reliability, edit_latency_s, peak_memory_mb FROM results WHERE setting='single'"
        ).one()
    assert tuple(sort_row) == (0.75, 0.25, 12.0)
    assert store.get_request(row.id).state == FINISHED


def test_results_version_changes_only_when_finished_results_change(store):
    empty = store.results_version()
    row = store.add_request(make_record())
    store.claim("w1", 30)
    store.save_result(row.id, "w1", "single", result_json(0.5))
    assert store.results_version() == empty  # a result of a running request is not shown
    store.finish(row.id, "w1")
    finished = store.results_version()
    assert finished != empty
    store.add_request(make_record(1))
    assert store.results_version() == finished


def test_failed_request_keeps_reason_and_log_tail(store):
    row = store.add_request(make_record())
    store.claim("w1", 30)
    store.fail(row.id, "w1", "RuntimeError: out of memory", "line 1\nline 2")
    failed = store.get_request(row.id)
    assert failed.state == FAILED
    assert failed.error == "RuntimeError: out of memory"
    assert failed.log_tail == "line 1\nline 2"
    assert failed.lease_owner is None


def test_expired_lease_returns_to_pending_then_fails_as_worker_lost(store, clock):
    row = store.add_request(make_record())
    for attempt in (1, 2):
        assert store.claim(f"w{attempt}", 10).attempts == attempt
        clock.advance(5)
        assert store.reap_expired(max_attempts=2) == []  # lease still valid
        clock.advance(6)
        assert store.reap_expired(max_attempts=2) == [row.id]
        state = store.get_request(row.id)
        if attempt == 1:
            assert state.state == PENDING and state.lease_owner is None
    assert state.state == FAILED
    assert state.error.startswith("worker lost")
    assert not store.heartbeat(row.id, "w2", 10)  # the old owner cannot revive it


def test_threads_never_claim_the_same_request(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    ids = {store.add_request(make_record(n)).id for n in range(30)}
    claimed: list[int] = []
    lock = threading.Lock()

    def drain(worker_id: str) -> None:
        while (row := store.claim(worker_id, 60)) is not None:
            with lock:
                claimed.append(row.id)

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    assert sorted(claimed) == sorted(ids)


def _drain_in_process(url: str, worker_id: str, out: multiprocessing.Queue) -> None:
    store = Store(url)
    got = []
    while (row := store.claim(worker_id, 60)) is not None:
        got.append(row.id)
    out.put(got)


def test_processes_never_claim_the_same_request(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    ids = {store.add_request(make_record(n)).id for n in range(40)}
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_drain_in_process, args=(url, f"p{i}", out)) for i in range(2)]
    for p in procs:
        p.start()
    claimed = [i for _ in procs for i in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    assert sorted(claimed) == sorted(ids)
    assert {r.state for r in store.list_requests()} == {RUNNING}


def test_list_requests_filters_by_state_and_rejects_unknown_states(store):
    a = store.add_request(make_record(1))
    store.add_request(make_record(2))
    store.cancel(a.id)
    assert [r.id for r in store.list_requests([CANCELLED])] == [a.id]
    assert len(store.list_requests()) == 2
    with pytest.raises(ValueError, match="DONE"):
        store.list_requests(["DONE"])
