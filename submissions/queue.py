"""The durable queue: requests, their states and leases. Every state change is one
transaction whose UPDATE is guarded by the expected state (and lease owner), so concurrent
workers and app threads never both win."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from submissions.quotas import Quota
from submissions.record import SubmissionRecord
from submissions.rows import (
    DuplicateRequestError,
    LeaseLostError,
    RequestRow,
    _aware,
    _lost_message,
    _naive,
    _request_row,
    utc_now,
)
from submissions.schema import ACTIVE_KEY as _active_key
from submissions.schema import (
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    STATES,
    SUBMIT_LOCK,
    create_schema,
    locked_write,
    make_engine,
    requests_table,
)

WORKER_LOST = "worker lost"
_RETRIES = 5
# SQLSTATEs after which PostgreSQL asks the client to run the transaction again
_RETRYABLE_SQLSTATES = ("40001", "40P01")  # serialization failure, deadlock detected


class RequestQueue:
    """The queue of one store; tables are created on first use. `clock` returns the current
    UTC time (tests pass a fake one)."""

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.url = url
        self.clock = clock
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        create_schema(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def add_request(
        self, record: SubmissionRecord, *, quota: Quota | None = None, now: datetime | None = None
    ) -> RequestRow:
        """Insert a PENDING request after checking duplicates and the organisation's quota,
        all in one transaction. Raises DuplicateRequestError or QuotaExceededError."""
        now = _aware(now) if now is not None else self.clock()
        key = record.request_key
        for attempt in range(_RETRIES):
            try:
                with locked_write(self.engine, SUBMIT_LOCK) as conn:
                    new_id = _insert_checked(conn, record, key, quota, now)
                break
            except sa.exc.IntegrityError:
                # Another transaction inserted the same key between our check and our insert
                # (only possible for a writer that bypassed the lock).
                existing = self._active_by_key(key)
                if existing is None:
                    raise
                raise DuplicateRequestError(existing.id, existing.state) from None
            except sa.exc.DBAPIError as err:
                if not _is_retryable(err) or attempt == _RETRIES - 1:
                    raise
                time.sleep(0.01 * 2**attempt)
        row = self.get_request(new_id)
        assert row is not None
        return row

    def cancel(self, request_id: int) -> bool:
        """PENDING -> CANCELLED. False if the request is not pending (claimed, done or absent)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                requests_table.update()
                .where(requests_table.c.id == request_id, requests_table.c.state == PENDING)
                .values(state=CANCELLED, updated_at=_naive(self.clock()))
            ).rowcount
        return changed == 1

    def get_request(self, request_id: int) -> RequestRow | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(requests_table).where(requests_table.c.id == request_id)
            ).first()
        return _request_row(row) if row is not None else None

    def list_requests(self, states: Iterable[str] | None = None) -> list[RequestRow]:
        """Requests oldest first, optionally only those in `states`."""
        query = sa.select(requests_table).order_by(requests_table.c.created_at, requests_table.c.id)
        if states is not None:
            states = list(states)
            unknown = sorted(set(states) - set(STATES))
            if unknown:
                raise ValueError(f"unknown state(s) {unknown}; known states: {list(STATES)}")
            query = query.where(requests_table.c.state.in_(states))
        with self._read() as conn:
            return [_request_row(row) for row in conn.execute(query)]

    def count_by_state(self) -> dict[str, int]:
        """How many requests are in each state (one GROUP BY; the app's status line)."""
        query = sa.select(requests_table.c.state, sa.func.count()).group_by(requests_table.c.state)
        with self._read() as conn:
            return {state: int(n) for state, n in conn.execute(query)}

    def recent_requests(self, states: Iterable[str], limit: int) -> list[RequestRow]:
        """The `limit` most recently updated requests in `states`, oldest first (the queue
        tab shows every active request but only the latest finished ones)."""
        states = list(states)
        unknown = sorted(set(states) - set(STATES))
        if unknown:
            raise ValueError(f"unknown state(s) {unknown}; known states: {list(STATES)}")
        newest = (
            sa.select(requests_table)
            .where(requests_table.c.state.in_(states))
            .order_by(requests_table.c.updated_at.desc(), requests_table.c.id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            rows = [_request_row(row) for row in conn.execute(newest)]
        return sorted(rows, key=lambda r: (r.created_at, r.id))

    def queue_position(self, request_id: int) -> int | None:
        """1 for the next request a worker will claim; None if the request is not PENDING."""
        with self._read() as conn:
            target = conn.execute(
                sa.select(requests_table.c.created_at, requests_table.c.state).where(
                    requests_table.c.id == request_id
                )
            ).first()
            if target is None or target.state != PENDING:
                return None
            ahead = conn.execute(
                sa.select(sa.func.count()).where(
                    requests_table.c.state == PENDING,
                    sa.or_(
                        requests_table.c.created_at < target.created_at,
                        sa.and_(
                            requests_table.c.created_at == target.created_at,
                            requests_table.c.id < request_id,
                        ),
                    ),
                )
            ).scalar_one()
        return int(ahead) + 1

    def count_requests(self) -> int:
        with self._read() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(requests_table)).scalar_one()
            )

    def claim(self, worker_id: str, lease_s: float) -> RequestRow | None:
        """Atomically take the oldest PENDING request: RUNNING, leased to `worker_id` for
        `lease_s` seconds, attempts + 1. None if nothing is pending."""
        while True:
            now = self.clock()
            with self.engine.begin() as conn:
                oldest = (
                    sa.select(requests_table.c.id)
                    .where(requests_table.c.state == PENDING)
                    .order_by(requests_table.c.created_at, requests_table.c.id)
                    .limit(1)
                )
                if self.dialect == "postgresql":
                    # workers skip a row another one is claiming instead of queueing on it
                    oldest = oldest.with_for_update(skip_locked=True)
                candidate = conn.execute(oldest).scalar()
                if candidate is None:
                    return None
                won = conn.execute(
                    requests_table.update()
                    .where(requests_table.c.id == candidate, requests_table.c.state == PENDING)
                    .values(
                        state=RUNNING,
                        attempts=requests_table.c.attempts + 1,
                        lease_owner=worker_id,
                        lease_expires_at=_naive(now + timedelta(seconds=lease_s)),
                        heartbeat_at=_naive(now),
                        progress_done=None,
                        progress_total=None,
                        error=None,
                        log_tail=None,
                        updated_at=_naive(now),
                    )
                ).rowcount
            if won == 1:
                row = self.get_request(candidate)
                assert row is not None
                return row

    def heartbeat(
        self,
        request_id: int,
        worker_id: str,
        lease_s: float,
        done: int | None = None,
        total: int | None = None,
    ) -> bool:
        """Extend the lease and record progress. False if `worker_id` no longer holds it."""
        now = self.clock()
        values: dict[str, Any] = {
            "lease_expires_at": _naive(now + timedelta(seconds=lease_s)),
            "heartbeat_at": _naive(now),
            "updated_at": _naive(now),
        }
        if done is not None:
            values["progress_done"] = done
        if total is not None:
            values["progress_total"] = total
        with self.engine.begin() as conn:
            return self._update_owned(conn, request_id, worker_id, values) == 1

    def finish(self, request_id: int, worker_id: str) -> None:
        """RUNNING -> FINISHED; only the lease owner may."""
        self._end(request_id, worker_id, FINISHED, None, None)

    def fail(self, request_id: int, worker_id: str, reason: str, log_tail: str = "") -> None:
        """RUNNING -> FAILED with a one-line reason and the log tail; only the lease owner may."""
        self._end(request_id, worker_id, FAILED, reason, log_tail)

    def reap_expired(self, max_attempts: int) -> list[int]:
        """Requests whose lease expired go back to PENDING, or to FAILED ("worker lost") once
        they have been attempted `max_attempts` times. Returns the ids changed."""
        now = self.clock()
        changed = []
        with self.engine.begin() as conn:
            expired = conn.execute(
                sa.select(requests_table.c.id, requests_table.c.attempts).where(
                    requests_table.c.state == RUNNING,
                    requests_table.c.lease_expires_at < _naive(now),
                )
            ).all()
            for row in expired:
                values: dict[str, Any] = {
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "updated_at": _naive(now),
                }
                if row.attempts >= max_attempts:
                    values |= {
                        "state": FAILED,
                        "error": f"{WORKER_LOST} (after {row.attempts} attempt(s))",
                    }
                else:
                    values |= {"state": PENDING, "progress_done": None, "progress_total": None}
                won = conn.execute(
                    requests_table.update()
                    .where(
                        requests_table.c.id == row.id,
                        requests_table.c.state == RUNNING,
                        requests_table.c.lease_expires_at < _naive(now),
                    )
                    .values(**values)
                ).rowcount
                if won == 1:
                    changed.append(row.id)
        return changed

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction (a plain deferred BEGIN on SQLite: readers never queue)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(mme_read_only=True)

    def _end(
        self, request_id: int, worker_id: str, state: str, error: str | None, log: str | None
    ) -> None:
        values = {
            "state": state,
            "error": error,
            "log_tail": log,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": _naive(self.clock()),
        }
        with self.engine.begin() as conn:
            if self._update_owned(conn, request_id, worker_id, values) != 1:
                raise LeaseLostError(_lost_message(request_id, worker_id, f"mark it {state}"))

    @staticmethod
    def _update_owned(
        conn: Connection, request_id: int, worker_id: str, values: dict[str, Any]
    ) -> int:
        return conn.execute(owned_update(request_id, worker_id).values(**values)).rowcount

    def _active_by_key(self, key: str) -> sa.Row[int, str] | None:
        with self._read() as conn:
            return conn.execute(
                sa.select(requests_table.c.id, requests_table.c.state)
                .where(requests_table.c.request_key == key, _active_key)
                .limit(1)
            ).first()


def _insert_checked(
    conn: Connection, record: SubmissionRecord, key: str, quota: Quota | None, now: datetime
) -> int:
    """Inside one transaction: refuse a duplicate or an over-quota request, else insert it."""
    existing = conn.execute(
        sa.select(requests_table.c.id, requests_table.c.state)
        .where(requests_table.c.request_key == key, _active_key)
        .limit(1)
    ).first()
    if existing is not None:
        raise DuplicateRequestError(existing.id, existing.state)
    if quota is not None:
        _check_quota(conn, record, quota, now)
    return conn.execute(
        requests_table.insert().values(
            **_request_values(record, _naive(now)), state=PENDING, attempts=0
        )
    ).inserted_primary_key[0]


def _request_values(record: SubmissionRecord, now: datetime) -> dict[str, Any]:
    """A requests row's columns taken from its record (state and attempts excluded)."""
    return {
        "request_key": record.request_key,
        "record": record.to_dict(),
        "model_id": record.model_id,
        "revision": record.revision,
        "model_type": record.model_type,
        "editor": record.editor,
        "config_hash": record.config_hash,
        "settings": ",".join(record.settings),
        "submitter": record.submitter,
        "organisation": record.organisation,
        "organisation_key": record.organisation_key,
        "submitter_key": record.submitter_key,
        "created_at": now,
        "updated_at": now,
    }


def _check_quota(conn: Connection, record: SubmissionRecord, quota: Quota, now: datetime) -> None:
    """Refuse the request if its organisation (or, with max_per_submitter, its submitter) has
    used its quota; both are compared by their stored identity keys."""
    checks = [("organisation", record.organisation, record.organisation_key, None)]
    if quota.max_per_submitter is not None:
        checks.append(
            ("submitter", record.submitter, record.submitter_key, quota.max_per_submitter)
        )
    for field, who, key, limit in checks:
        column = requests_table.c[f"{field}_key"]
        recent = conn.execute(
            sa.select(requests_table.c.created_at).where(
                column == key,
                requests_table.c.state != CANCELLED,
                requests_table.c.created_at > _naive(quota.window_start(now)),
            )
        ).scalars()
        quota.check(who, [_aware(t) for t in recent], now, field=field, limit=limit)


def _is_retryable(err: sa.exc.DBAPIError) -> bool:
    """PostgreSQL asked for the transaction to be run again (serialization failure, deadlock)."""
    code = getattr(err.orig, "sqlstate", None) or getattr(err.orig, "pgcode", None)
    return code in _RETRYABLE_SQLSTATES


def owned_update(request_id: int, worker_id: str) -> sa.Update:
    """An UPDATE of the request that matches only while it is RUNNING under `worker_id`'s
    lease (no row changed: the lease was lost)."""
    return requests_table.update().where(
        requests_table.c.id == request_id,
        requests_table.c.state == RUNNING,
        requests_table.c.lease_owner == worker_id,
    )
