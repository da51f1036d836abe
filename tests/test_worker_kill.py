"""A worker killed mid-run loses its lease; another worker later finishes the request, or
the request fails as "worker lost" once its attempts are used up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

from backend.executors import LocalExecutor
from backend.worker import Worker
from submissions.record import SubmissionRecord
from submissions.store import FAILED, FINISHED, RUNNING, Store
from tests.fake_clock import FakeClock

REPO = Path(__file__).resolve().parents[1]

DOOMED_WORKER = textwrap.dedent(
    """
    import sys, time
    from backend.executors import LocalExecutor
    from backend.worker import Worker
    from submissions.store import Store

    def evaluate(spec, progress):
        progress(1, 10)
        time.sleep(600)

    store = Store(sys.argv[1])
    Worker(store, LocalExecutor(evaluate), benchmark="b", lease_s=1.0, heartbeat_s=0.2,
           worker_id="doomed").run_once()
    """
)


def make_record() -> SubmissionRecord:
    return SubmissionRecord(
        model_id="org/model",
        revision="a" * 40,
        model_type="general",
        editor="prompt",
        editor_config="",
        config_hash="c" * 64,
        settings=("single",),
        submitter="Ada",
        organisation="Lab",
        contact="ada@example.org",
    )


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.1)


def fake_result(spec, progress) -> dict:
    progress(10, 10)
    return {"setting": spec.setting, "benchmark": {"cases": 10}}


def test_a_request_of_a_killed_worker_is_finished_by_another(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    row = store.add_request(make_record())
    script = tmp_path / "doomed_worker.py"
    script.write_text(DOOMED_WORKER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), url], cwd=REPO, env=env)
    try:
        wait_for(lambda: store.get_request(row.id).progress_done == 1, 120, "the worker to run")
        running = store.get_request(row.id)
        assert running.state == RUNNING and running.lease_owner == "doomed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    lease_end = store.get_request(row.id).lease_expires_at
    assert store.get_request(row.id).state == RUNNING  # nobody has noticed yet
    wait_for(lambda: datetime.now(UTC) > lease_end, 10, "the dead worker's lease to expire")
    rescuer = Worker(store, LocalExecutor(fake_result), benchmark="b", max_attempts=3)
    assert rescuer.run_once() is True
    finished = store.get_request(row.id)
    assert finished.state == FINISHED
    assert finished.attempts == 2
    assert finished.lease_owner is None and finished.progress_done == 10
    assert [r.setting for r in store.results()] == ["single"]
    store.close()


def test_a_request_whose_attempts_are_used_up_fails_as_worker_lost(tmp_path):
    clock = FakeClock()  # no process dies here: the lease runs out on the store's clock
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", clock=clock)
    row = store.add_request(make_record())
    assert store.claim("vanished", lease_s=10).id == row.id
    worker = Worker(store, LocalExecutor(fake_result), benchmark="b", max_attempts=1)
    clock.advance(9)
    assert worker.run_once() is False  # nothing pending, and the lease still holds
    assert store.get_request(row.id).state == RUNNING
    clock.advance(2)
    assert worker.run_once() is False  # reaped, not retried
    failed = store.get_request(row.id)
    assert failed.state == FAILED and failed.error.startswith("worker lost")
    assert store.results() == []
    store.close()
