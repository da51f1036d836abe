"""The worker: claim the oldest PENDING request, hold its lease with a heartbeat, evaluate each
requested setting on the hidden split, store the results, and mark it FINISHED or FAILED.

A request has a wall-clock limit (`run_timeout_s`, default `contract.limits.run_timeout_s()`:
$MME_RUN_TIMEOUT_S, else 6 h on a GPU machine and 2 h without one):
past it the run is stopped (at its next progress report, or by the executor's `cancel()`), the
request is FAILED with that reason and the worker moves on."""

from __future__ import annotations

import collections
import logging
import os
import re
import socket
import threading
import time
import traceback
import uuid
from typing import Any, Protocol

from backend.executors import Executor
from contract.limits import RUN_TIMEOUT_GRACE_S
from contract.limits import run_timeout_s as default_run_timeout_s
from contract.run_spec import RunSpec, run_spec_for
from submissions import RequestRow

log = logging.getLogger(__name__)
LOG_TAIL_LINES = 50
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class RunTimeoutError(Exception):
    """The request ran past its wall-clock limit."""


class WorkerStore(Protocol):
    """What the worker needs of a store (`submissions.Store` is one): reap lost leases, claim
    a request, hold its lease, store its results and end it."""

    def reap_expired(self, max_attempts: int) -> list[int]: ...

    def claim(self, worker_id: str, lease_s: float) -> RequestRow | None: ...

    def heartbeat(
        self,
        request_id: int,
        worker_id: str,
        lease_s: float,
        done: int | None = None,
        total: int | None = None,
    ) -> bool: ...

    def save_result(
        self, request_id: int, worker_id: str, setting: str, result: dict[str, Any]
    ) -> None: ...

    def finish(self, request_id: int, worker_id: str) -> None: ...

    def fail(self, request_id: int, worker_id: str, reason: str, log_tail: str = "") -> None: ...


class Worker:
    """Drives requests from a store through an executor. The store is any object with the
    `submissions.store.Store` methods (claim, heartbeat, save_result, finish, fail,
    reap_expired: WorkerStore); the evaluator never imports the submissions package."""

    def __init__(
        self,
        store: WorkerStore,
        executor: Executor,
        *,
        benchmark: str,
        split: str = "hidden",
        lease_s: float = 60,
        max_attempts: int = 3,
        worker_id: str | None = None,
        heartbeat_s: float | None = None,
        limit: int | None = None,
        run_timeout_s: float | None = None,
        timeout_grace_s: float = RUN_TIMEOUT_GRACE_S,
    ) -> None:
        self.store = store
        self.executor = executor
        self.benchmark = str(benchmark)
        self.split = split
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.last_request_id: int | None = None  # the request run_once last claimed
        self.limit = limit  # first N cases only: smoke tests, never for published results
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else max(lease_s / 3, 0.05)
        # wall-clock limit of one request (all its settings), and how long a run may take to
        # stop after it before the worker abandons it
        self.run_timeout_s = run_timeout_s if run_timeout_s is not None else default_run_timeout_s()
        if not self.run_timeout_s > 0:
            raise ValueError(f"run_timeout_s must be positive, got {self.run_timeout_s!r}")
        self.timeout_grace_s = timeout_grace_s

    def run_once(self) -> bool:
        """Reap lost leases, then claim and run one request. False if none was pending."""
        reaped = self.store.reap_expired(self.max_attempts)
        if reaped:
            log.warning("requests %s lost their worker's lease; requeued or failed", reaped)
        request = self.store.claim(self.worker_id, self.lease_s)
        if request is None:
            return False
        self.last_request_id = request.id
        log.info(
            "worker %s claimed request #%d (attempt %d)",
            self.worker_id,
            request.id,
            request.attempts,
        )
        self._run(request)
        return True

    def run_forever(self, stop_event: threading.Event, idle_s: float = 5.0) -> None:
        """Run requests until `stop_event` is set, sleeping `idle_s` when the queue is empty."""
        while not stop_event.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("worker %s: store error; retrying in %.0fs", self.worker_id, idle_s)
                worked = False
            if not worked:
                stop_event.wait(idle_s)

    def _run(self, request: RequestRow) -> None:
        capture = _LogTail(LOG_TAIL_LINES)
        logging.getLogger().addHandler(capture)
        heartbeat = _Heartbeat(self, request.id)
        heartbeat.start()
        deadline = time.monotonic() + self.run_timeout_s
        try:
            settings = list(request.record.settings)
            for index, setting in enumerate(settings):
                spec = self._spec(request, setting)
                heartbeat.set_stage(index, len(settings))
                result = self._execute(spec, heartbeat, deadline)
                heartbeat.beat()
                self.store.save_result(request.id, self.worker_id, setting, result)
            heartbeat.stop()
            self.store.finish(request.id, self.worker_id)
            log.info("request #%d FINISHED", request.id)
        except Exception as err:
            heartbeat.stop()
            if heartbeat.lost:
                log.error(
                    "request #%d: lease lost while running; leaving it to the reaper", request.id
                )
                return
            reason = _one_line(err)
            tail = capture.text() + "\n" + traceback.format_exc()
            tail = "\n".join(ANSI_ESCAPE.sub("", tail).strip().splitlines()[-LOG_TAIL_LINES:])
            log.error("request #%d FAILED: %s", request.id, reason)
            try:
                self.store.fail(request.id, self.worker_id, reason, tail)
            except Exception as fail_err:
                log.error("request #%d: could not record the failure: %s", request.id, fail_err)
        finally:
            heartbeat.stop()
            logging.getLogger().removeHandler(capture)

    def _timeout_reason(self) -> str:
        return (
            f"the evaluation ran past its wall-clock limit of {self.run_timeout_s:g} s and was "
            "stopped; submit a cheaper config (fewer steps or iterations) or a smaller model"
        )

    def _execute(self, spec: RunSpec, heartbeat: _Heartbeat, deadline: float) -> dict[str, Any]:
        """Run one setting through the executor in a helper thread, so that the worker can give
        up on it at the deadline: a run that reports progress past the deadline is stopped by
        its progress callback; one that does not is cancelled (if the executor can) and
        abandoned `timeout_grace_s` later. Raises RunTimeoutError past the deadline."""
        if time.monotonic() >= deadline:
            raise RunTimeoutError(self._timeout_reason())
        reason = self._timeout_reason()

        def progress(done: int, total: int) -> None:
            heartbeat.progress(done, total)
            if time.monotonic() > deadline:
                raise RunTimeoutError(reason)

        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["result"] = self.executor.run(spec, progress)
            except BaseException as err:  # noqa: BLE001 - re-raised in the worker's thread
                outcome["error"] = err

        thread = threading.Thread(target=target, name=f"run-{spec.setting}", daemon=True)
        thread.start()
        thread.join(max(deadline - time.monotonic(), 0.0))
        if thread.is_alive():
            _cancel(self.executor)
            thread.join(self.timeout_grace_s)
            if thread.is_alive():
                log.error("the timed-out run did not stop within %.0f s; abandoning it",
                          self.timeout_grace_s)  # fmt: skip
            raise RunTimeoutError(reason)
        if "error" in outcome:
            raise outcome["error"]
        if time.monotonic() > deadline:
            raise RunTimeoutError(reason)
        return outcome["result"]

    def _spec(self, request: RequestRow, setting: str) -> RunSpec:
        """The run of one setting: the stored canonical config and its hash, passed through."""
        return run_spec_for(
            request.record,
            setting,
            benchmark=self.benchmark,
            split=self.split,
            limit=self.limit,
            seed=0,
        )


class _Heartbeat:
    """Background thread: extends the lease every `heartbeat_s` and writes progress, summed
    over the request's settings (done in earlier settings + done in the current one)."""

    def __init__(self, worker: Worker, request_id: int) -> None:
        self.worker = worker
        self.request_id = request_id
        self.lost = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stage = (0, 1)
        self._done: int | None = None
        self._total: int | None = None
        self._thread = threading.Thread(
            target=self._loop, name=f"heartbeat-{request_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()

    def set_stage(self, index: int, count: int) -> None:
        with self._lock:
            self._stage = (index, count)

    def progress(self, done: int, total: int) -> None:
        with self._lock:
            index, count = self._stage
            self._done = index * total + done
            self._total = count * total

    def beat(self) -> bool:
        """Renew the lease and write progress now; False once the lease is lost."""
        with self._lock:
            done, total = self._done, self._total
        held = self.worker.store.heartbeat(
            self.request_id, self.worker.worker_id, self.worker.lease_s, done, total
        )
        if not held:
            self.lost = True
            log.error("request #%d: lease lost", self.request_id)
        return held

    def _loop(self) -> None:
        while not self._stop.wait(self.worker.heartbeat_s):
            try:
                if not self.beat():
                    return
            except Exception:
                log.exception("heartbeat for request #%d failed; retrying", self.request_id)


class _LogTail(logging.Handler):
    """Keeps the last `lines` formatted log lines of the process while a request runs."""

    def __init__(self, lines: int) -> None:
        super().__init__(level=logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.extend(self.format(record).splitlines())
        except Exception:
            self.handleError(record)

    def text(self) -> str:
        return "\n".join(self.lines)


def _cancel(executor: Executor) -> None:
    """Ask the executor to stop its current run, if it knows how (Ray, process)."""
    cancel = getattr(executor, "cancel", None)
    if cancel is None:
        return
    try:
        cancel()
    except Exception:  # noqa: BLE001 - the request is failed either way
        log.exception("cancelling the timed-out run failed")


def _one_line(err: BaseException) -> str:
    message = ANSI_ESCAPE.sub("", str(err)).strip().splitlines()
    first = message[0] if message else ""
    if isinstance(err, RunTimeoutError):
        return f"timed out: {first}"[:500]
    return f"{type(err).__name__}: {first}"[:500]
