"""Concurrency on one store from several processes, on SQLite and on a real PostgreSQL server:
4 worker processes draining one queue never run a request twice; 200 submissions from 4
processes are each stored once on PostgreSQL (every second attempt refused as a duplicate;
tests/test_fuzz_concurrent.py does the same on SQLite); 4 processes
racing for one organisation's quota never get past it."""

from __future__ import annotations

import multiprocessing
import os
import random
from pathlib import Path

import pytest

from backend.executors import LocalExecutor
from backend.submission import submit
from backend.worker import Worker
from submissions import Quota, Store, SubmissionError, SubmissionLimits
from submissions.store import FINISHED
from tests.test_store import make_record
from tests.write_path_support import valid_form, write_model

PROCESSES = 4
WORKER_REQUESTS = 24
SUBMISSIONS = 200
JOIN_S = 240


def _context():
    # fork: the children inherit the imported modules (a spawned child would import torch
    # again), and open their own database connections
    return multiprocessing.get_context("fork")


def _run_log_evaluate(log_path: str):
    def evaluate(spec, progress=None) -> dict:
        line = f"{spec.model}|{spec.setting}|{os.getpid()}\n"
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())  # one short O_APPEND write: never interleaved
        finally:
            os.close(fd)
        if progress is not None:
            progress(1, 1)
        return {"setting": spec.setting, "benchmark": {"cases": 1}, "pid": os.getpid()}

    return evaluate


def _drain(url: str, index: int, log_path: str, barrier, done) -> None:
    """In a child: a real Worker claiming from the shared store until the queue is empty."""
    store = Store(url)
    worker = Worker(
        store,
        LocalExecutor(_run_log_evaluate(log_path)),
        benchmark="bench",
        worker_id=f"proc-{index}",
        lease_s=120,
    )
    barrier.wait()
    runs = 0
    while worker.run_once():
        runs += 1
    store.close()
    done.put(runs)


def _join(processes) -> None:
    for process in processes:
        process.join(timeout=JOIN_S)
        if process.is_alive():
            process.kill()
        assert process.exitcode == 0


def test_four_worker_processes_never_run_a_request_twice(store_url, tmp_path: Path):
    store = Store(store_url)
    records = [make_record(n, settings=("single", "lifelong")) for n in range(WORKER_REQUESTS)]
    for record in records:
        store.add_request(record)
    store.close()
    log_path = str(tmp_path / "runs.log")
    context = _context()
    barrier, done = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=_drain, args=(store_url, i, log_path, barrier, done))
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    runs = [done.get(timeout=JOIN_S) for _ in processes]
    _join(processes)
    assert sum(runs) == WORKER_REQUESTS
    lines = Path(log_path).read_text().splitlines()
    runs_per_setting = [line.rsplit("|", 1)[0] for line in lines]
    expected = {f"{r.model_id}|{s}" for r in records for s in r.settings}
    assert sorted(runs_per_setting) == sorted(expected)  # every setting ran exactly once
    store = Store(store_url)
    rows = store.list_requests()
    assert {row.state for row in rows} == {FINISHED}
    assert {row.attempts for row in rows} == {1}
    assert len(store.results()) == 2 * WORKER_REQUESTS
    store.close()


def _forms(model: str) -> list[dict]:
    return [
        valid_form(
            model,
            editor_config=f"n_iter: {n + 1}",
            organisation=("ÉCOLE-lab", "école-LAB", "Analytical Lab")[n % 3],
            settings=["single"] if n % 2 else ["single", "lifelong"],
        )
        for n in range(SUBMISSIONS)
    ]


def _submit_share(index: int, url: str, model: str, root: str, barrier, out) -> None:
    """In a child: its own 50 requests and its neighbour's 50, shuffled."""
    os.environ["MME_MODELS_ROOT"] = root
    os.environ["HF_HUB_OFFLINE"] = "1"
    share = SUBMISSIONS // PROCESSES
    everything = _forms(model)
    neighbour = (index + 1) % PROCESSES
    attempts = (
        everything[index * share : (index + 1) * share]
        + everything[neighbour * share : (neighbour + 1) * share]
    )
    random.Random(index).shuffle(attempts)
    store = Store(url)
    limits = SubmissionLimits(quota=Quota(max_requests=10_000))
    stored, refused = [], []
    barrier.wait()
    for form in attempts:
        try:
            stored.append(submit(store, form, limits=limits).id)
        except SubmissionError as err:
            refused.append(err.field)
    store.close()
    out.put((stored, refused))


def test_200_submissions_from_4_processes_are_each_stored_once(postgres_url, tmp_path: Path):
    """On PostgreSQL (tests/test_fuzz_concurrent.py runs the same on SQLite)."""
    store_url = postgres_url
    model = write_model(tmp_path / "models" / "tiny")
    Store(store_url).close()
    context = _context()
    barrier, out = context.Barrier(PROCESSES), context.Queue()
    root = str(tmp_path / "models")
    processes = [
        context.Process(target=_submit_share, args=(i, store_url, str(model), root, barrier, out))
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [out.get(timeout=JOIN_S) for _ in processes]
    _join(processes)
    stored = [request_id for ids, _ in outcomes for request_id in ids]
    refused = [field for _, fields in outcomes for field in fields]
    assert len(stored) == SUBMISSIONS and len(set(stored)) == SUBMISSIONS
    assert refused == ["request"] * SUBMISSIONS
    store = Store(store_url)
    rows = store.list_requests()
    assert len(rows) == SUBMISSIONS and len({row.request_key for row in rows}) == SUBMISSIONS
    store.close()


def _race_for_quota(index: int, url: str, barrier, out) -> None:
    store = Store(url)
    quota = Quota(max_requests=5)
    stored, refused = 0, 0
    barrier.wait()
    for n in range(5):
        try:
            store.add_request(make_record(100 * index + n, organisation="Race Lab"), quota=quota)
            stored += 1
        except Exception as err:  # noqa: BLE001 - counted; anything but a quota refusal fails
            assert type(err).__name__ == "QuotaExceededError", repr(err)
            refused += 1
    store.close()
    out.put((stored, refused))


@pytest.mark.timeout(300)
def test_processes_racing_for_one_quota_never_get_past_it(store_url):
    Store(store_url).close()
    context = _context()
    barrier, out = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=_race_for_quota, args=(i, store_url, barrier, out))
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [out.get(timeout=JOIN_S) for _ in processes]
    _join(processes)
    assert sum(s for s, _ in outcomes) == 5 and sum(r for _, r in outcomes) == 15
    store = Store(store_url)
    assert store.count_requests() == 5
    store.close()
