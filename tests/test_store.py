"""The queue store: states, atomic claims, leases, reaping, results. Every test that takes the
`store` or `store_url` fixture runs twice: on a SQLite file and on a real PostgreSQL server
(tests/fixtures/stores.py)."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import timedelta

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
from tests.fake_clock import FakeClock


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
def store(store_url, clock) -> Store:
    store = Store(store_url, clock=clock)
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


def test_finished_results_are_listed_with_their_board_columns(store):
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
            "SELECT overall__reliability, edit_latency_s, peak_memory_mb FROM results "
            "WHERE setting='single'"
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


def test_threads_never_claim_the_same_request(store_url):
    store = Store(store_url)
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


def test_processes_never_claim_the_same_request(store_url):
    url = store_url
    store = Store(url)
    ids = {store.add_request(make_record(n)).id for n in range(40)}
    store.engine.dispose()  # the children open their own connections
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_drain_in_process, args=(url, f"p{i}", out)) for i in range(2)]
    for p in procs:
        p.start()
    claimed = [i for _ in procs for i in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    assert sorted(claimed) == sorted(ids)
    assert {r.state for r in store.list_requests()} == {RUNNING}
    store.close()


def test_list_requests_filters_by_state_and_rejects_unknown_states(store):
    a = store.add_request(make_record(1))
    store.add_request(make_record(2))
    store.cancel(a.id)
    assert [r.id for r in store.list_requests([CANCELLED])] == [a.id]
    assert len(store.list_requests()) == 2
    with pytest.raises(ValueError, match="DONE"):
        store.list_requests(["DONE"])


def test_quota_compares_identity_keys_ignores_cancelled_and_slides(store, clock):
    from submissions.quotas import Quota, QuotaExceededError

    quota = Quota(max_requests=2, window=timedelta(days=7))
    first = store.add_request(make_record(1, organisation="ÉCOLE-lab"), quota=quota)
    store.add_request(make_record(2, organisation="école-LAB"), quota=quota)
    with pytest.raises(QuotaExceededError, match="2 submissions"):
        store.add_request(make_record(3, organisation="E\u0301COLE-lab"), quota=quota)
    assert store.count_requests() == 2
    store.cancel(first.id)  # a cancelled request gives its slot back
    store.add_request(make_record(3, organisation="ÉCOLE-LAB"), quota=quota)
    with pytest.raises(QuotaExceededError):
        store.add_request(make_record(4, organisation="école-lab"), quota=quota)
    clock.advance(8 * 24 * 3600)  # the window slides past the old requests
    store.add_request(make_record(4, organisation="école-lab"), quota=quota)
    per_submitter = Quota(max_requests=100, max_per_submitter=1)
    store.add_request(make_record(5, organisation="Other", submitter="Bob"), quota=per_submitter)
    with pytest.raises(QuotaExceededError) as err:
        store.add_request(make_record(6, organisation="Else", submitter="BOB"), quota=per_submitter)
    assert err.value.field == "submitter"


def test_a_reaped_request_is_retried_by_another_worker_and_finishes(store, clock):
    row = store.add_request(make_record(settings=("single", "lifelong")))
    store.claim("w1", 10)
    store.save_result(row.id, "w1", "single", result_json(0.1))  # then w1 vanishes
    clock.advance(11)
    assert store.reap_expired(max_attempts=3) == [row.id]
    retried = store.claim("w2", 10)
    assert retried.id == row.id and retried.attempts == 2 and retried.lease_owner == "w2"
    with pytest.raises(LeaseLostError):
        store.save_result(row.id, "w1", "lifelong", result_json(0.9))  # the old owner is out
    store.save_result(row.id, "w2", "single", result_json(0.5))
    store.save_result(row.id, "w2", "lifelong", result_json(0.25))
    store.finish(row.id, "w2")
    results = {r.setting: r.result for r in store.results()}
    assert results["single"]["metrics"]["overall"]["reliability"]["mean"] == 0.5
    assert set(results) == {"single", "lifelong"}
    assert store.get_request(row.id).state == FINISHED


def test_a_failed_request_may_be_submitted_again_but_not_a_finished_one(store):
    row = store.add_request(make_record())
    store.claim("w1", 30)
    store.fail(row.id, "w1", "boom")
    again = store.add_request(make_record())
    store.claim("w1", 30)
    store.finish(again.id, "w1")
    with pytest.raises(DuplicateRequestError) as err:
        store.add_request(make_record())
    assert err.value.existing_id == again.id and err.value.state == FINISHED


def _real_like_result(reliability: float, setting: str = "single") -> dict:
    tiers = {}
    for n, tier in enumerate(("overall", "understanding", "reasoning")):
        value = reliability - 0.1 * n
        tiers[tier] = {
            "score": {"mean": value, "ci95": [value - 0.05, value + 0.05]},
            "reliability": {"mean": value, "ci95": [0.0, 1.0]},
            "locality_mc": {"mean": 0.75, "ci95": [0.5, 1.0]},
        }
    return {
        "model": {"id": "ignored/for-the-model-id", "revision": "r" * 40},
        "editor": {"name": "prompt", "config_hash": "h" * 64},
        "benchmark": {"name": "mme", "version": "2.0.0", "sha256": "s" * 64, "cases": 7},
        "setting": setting,
        "metrics": tiers,
        "pre_edit": {"overall": {"accuracy": {"mean": 0.4, "ci95": [0.3, 0.5]}}},
        "lifelong_curve": [{"edits": 1, "reliability": 1.0}] if setting == "lifelong" else None,
        "efficiency": {"edit_latency_s": {"mean": 0.5, "p50": 0.4, "p95": 0.9},
                       "peak_memory_mb": 99.0},
    }  # fmt: skip


def test_board_rows_hold_the_boards_columns_without_parsing_json(store):
    from submissions.board import tier_column

    record = make_record(settings=("single", "lifelong"), submitted_at="2026-01-02T03:04:05+00:00")
    row = store.add_request(record)
    store.claim("w1", 30)
    store.save_result(row.id, "w1", "single", _real_like_result(0.8))
    store.save_result(row.id, "w1", "lifelong", _real_like_result(0.6, "lifelong"))
    assert store.board_rows().rows == [] and store.visible_result_ids() == []
    store.finish(row.id, "w1")
    board = store.board_rows()
    lines = {line["setting"]: line for line in board.records()}
    single = lines["single"]
    assert single["model_id"] == "org/model-0" and single["editor"] == "prompt"
    assert single["submitted_at"] == "2026-01-02 03:04:05"
    assert single["model_revision"] == "0" * 40  # the request's revision
    assert single["config_hash"] == "h" * 64  # the result's own config hash
    assert single["benchmark_version"] == "2.0.0" and single["cases"] == 7
    assert single[tier_column("overall", "score")] == pytest.approx(0.8)
    assert single[tier_column("reasoning", "score_lo")] == pytest.approx(0.55)
    assert single[tier_column("understanding", "locality_mc")] == 0.75
    assert single[tier_column("understanding", "generality")] is None
    assert single[tier_column("overall", "pre_accuracy")] == pytest.approx(0.4)
    assert single["seconds_per_edit_p95"] == 0.9 and single["peak_memory_mb"] == 99.0
    assert "lifelong_curve" not in single  # the board's rows carry no JSON
    ids = store.visible_result_ids()
    curve = [{"edits": 1, "reliability": 1.0}]
    assert store.board_curves() == {lines["lifelong"]["result_id"]: curve}
    assert len(ids) == 2 and [r[0] for r in store.board_rows(ids[1:]).rows] == ids[1:]
    detail = store.get_result(row.id, "lifelong")
    assert detail.result["setting"] == "lifelong" and store.get_result(row.id, "x") is None


def test_a_malformed_result_is_stored_with_empty_board_values(store):
    row = store.add_request(make_record())
    store.claim("w1", 30)
    store.save_result(row.id, "w1", "single", {"metrics": {"overall": {"score": "NaN?"}},
                                               "benchmark": {"cases": "many"}})  # fmt: skip
    store.finish(row.id, "w1")
    (line,) = store.board_rows().records()
    assert line["overall__score"] is None and line["cases"] is None


def test_import_finished_stores_many_requests_in_one_transaction(store):
    entries = [
        (make_record(n, settings=("single", "lifelong")),
         {"single": _real_like_result(0.5), "lifelong": _real_like_result(0.4, "lifelong")})
        for n in range(300)
    ]  # fmt: skip
    ids = store.import_finished(entries)
    assert len(ids) == 300 and len(set(ids)) == 300
    assert {r.state for r in store.list_requests()} == {FINISHED}
    assert {r.attempts for r in store.list_requests()} == {1}
    assert len(store.board_rows().rows) == 600 and len(store.results()) == 600
    assert store.get_request(ids[7]).record == entries[7][0]
    with pytest.raises(DuplicateRequestError):  # already stored: nothing of the batch is written
        store.import_finished([(make_record(1000), {"single": {}}), entries[3]])
    with pytest.raises(ValueError, match="same request"):
        store.import_finished([entries[0], entries[0]])
    with pytest.raises(ValueError, match="requested setting"):
        store.import_finished([(make_record(2000), {"lifelong": {}})])
    assert store.count_requests() == 300


def test_an_older_store_gets_the_board_columns_filled_from_its_json(store_url):
    import sqlalchemy as sa

    from submissions.schema import BOARD_COLUMN_NAMES

    store = Store(store_url)
    row = store.add_request(make_record())
    store.claim("w1", 30)
    store.save_result(row.id, "w1", "single", _real_like_result(0.7))
    store.finish(row.id, "w1")
    store.close()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:  # back to the first schema: no board columns
        for name in BOARD_COLUMN_NAMES:
            conn.exec_driver_sql(f"ALTER TABLE results DROP COLUMN {name}")
    engine.dispose()
    reopened = Store(store_url)
    (line,) = reopened.board_rows().records()
    assert line["overall__score"] == pytest.approx(0.7) and line["benchmark_version"] == "2.0.0"
    reopened.close()


def test_concurrent_opens_of_a_new_store_create_its_tables_once(store_url):
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            Store(store_url).close()
        except BaseException as err:  # noqa: BLE001 - collected for the assertion
            errors.append(err)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_finished_requests_are_copied_from_sqlite_to_postgresql(tmp_path, postgres_url):
    from submissions.store import copy_finished

    source = Store(f"sqlite:///{tmp_path / 'old.db'}")
    for n in range(3):
        row = source.add_request(make_record(n, settings=("single", "lifelong")))
        source.claim("w1", 30)
        source.save_result(row.id, "w1", "single", _real_like_result(0.1 * n))
        source.save_result(row.id, "w1", "lifelong", _real_like_result(0.2, "lifelong"))
        source.finish(row.id, "w1")
    source.add_request(make_record(9))  # pending: stays behind
    target = Store(postgres_url)
    assert copy_finished(source, target) == (3, 0)
    assert copy_finished(source, target) == (0, 3)  # a second run copies nothing twice
    assert sorted((r.model_id, r.setting) for r in target.results()) == sorted(
        (r.model_id, r.setting) for r in source.results()
    )
    assert [r.record for r in target.list_requests()] == [
        r.record for r in source.list_requests([FINISHED])
    ]
    assert len(target.board_rows().rows) == 6
    source.close()
    target.close()
