"""The durable queue and results store: one SQLAlchemy database (SQLite by default, PostgreSQL
for multi-host: `postgresql+psycopg://...`), explicit states, leases owned by one worker, and
atomic transitions. The tables, engines and migrations are in submissions/schema.py; what the
board reads of a result (stored as real columns beside its JSON) in submissions/board.py."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from submissions.board import BOARD_JSON_COLUMNS
from submissions.quotas import Quota
from submissions.record import SubmissionRecord
from submissions.schema import ACTIVE_KEY as _active_key
from submissions.schema import (
    ACTIVE_STATES,
    BOARD_COLUMN_NAMES,
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    STATES,
    SUBMIT_LOCK,
    create_schema,
    efficiency_columns,
    locked_write,
    make_engine,
    metadata,
    requests_table,
    result_values,
    results_table,
)

__all__ = [
    "ACTIVE_STATES",
    "CANCELLED",
    "FAILED",
    "FINISHED",
    "PENDING",
    "RUNNING",
    "STATES",
    "WORKER_LOST",
    "BoardRows",
    "DuplicateRequestError",
    "LeaseLostError",
    "RequestRow",
    "ResultRow",
    "Store",
    "StoreError",
    "metadata",
    "requests_table",
    "results_table",
    "efficiency_columns",
    "utc_now",
]

WORKER_LOST = "worker lost"
_RETRIES = 5
# SQLSTATEs after which PostgreSQL asks the client to run the transaction again
_RETRYABLE_SQLSTATES = ("40001", "40P01")  # serialization failure, deadlock detected
# columns of every board row besides the stored board values (submissions/board.py)
BOARD_KEYS: tuple[str, ...] = (
    "result_id",
    "request_id",
    "setting",
    "model_id",
    "editor",
    "created_at",
    "edit_latency_s",
    "peak_memory_mb",
    *(name for name in BOARD_COLUMN_NAMES if name not in BOARD_JSON_COLUMNS),
)


class StoreError(Exception):
    """Base of the store's refusals."""


class DuplicateRequestError(StoreError):
    """The same request (same request_key) is already pending, running or finished."""

    def __init__(self, existing_id: int, state: str) -> None:
        self.existing_id = existing_id
        self.state = state
        super().__init__(
            f"the same model, revision, editor, config and settings were already submitted as "
            f"request #{existing_id} (state {state}); follow that request instead of resubmitting"
        )


class LeaseLostError(StoreError):
    """A worker tried to change a request whose lease it no longer holds."""


@dataclasses.dataclass(frozen=True)
class RequestRow:
    """One queue row as the app and the worker see it. Times are timezone-aware UTC."""

    id: int
    request_key: str
    record: SubmissionRecord
    state: str
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    heartbeat_at: datetime | None
    progress_done: int | None
    progress_total: int | None
    error: str | None
    log_tail: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def model_id(self) -> str:
        return self.record.model_id

    @property
    def editor(self) -> str:
        return self.record.editor

    @property
    def settings(self) -> tuple[str, ...]:
        return self.record.settings


@dataclasses.dataclass(frozen=True)
class ResultRow:
    """One result of a FINISHED request for one setting, with the request it came from."""

    request_id: int
    record: SubmissionRecord
    setting: str
    result: dict[str, Any]
    created_at: datetime

    @property
    def model_id(self) -> str:
        return self.record.model_id

    @property
    def revision(self) -> str:
        return self.record.revision

    @property
    def model_type(self) -> str:
        return self.record.model_type

    @property
    def editor(self) -> str:
        return self.record.editor

    @property
    def organisation(self) -> str:
        return self.record.organisation

    @property
    def submitter(self) -> str:
        return self.record.submitter


class BoardRows(NamedTuple):
    """What the leaderboard reads: one tuple per visible result, in `columns` order (BOARD_KEYS:
    ids, setting, model, editor, the efficiency sort keys and the board's stored values of
    submissions/board.py). No result JSON is parsed to build it."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts (convenient, slower than building a frame from `rows`)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Store:
    """The queue and results behind one small interface; tables are created on first use.

    `clock` returns the current UTC time (tests pass a fake one). Every state change is one
    transaction whose UPDATE is guarded by the expected state (and lease owner), so concurrent
    workers and app threads never both win.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.url = url
        self.clock = clock
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        create_schema(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # ---- write side (the app) ----

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

    # ---- read side ----

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
        query = sa.select(requests_table.c.state, sa.func.count()).group_by(
            requests_table.c.state
        )
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

    def results(self, result_ids: Iterable[int] | None = None) -> list[ResultRow]:
        """Every stored result of a FINISHED request, oldest first (with `result_ids`: only
        those results). Parses every result JSON: the board reads `board_rows` instead."""
        query = (
            sa.select(
                results_table.c.request_id,
                results_table.c.setting,
                results_table.c.result,
                results_table.c.created_at,
                requests_table.c.record,
            )
            .join(requests_table, requests_table.c.id == results_table.c.request_id)
            .where(requests_table.c.state == FINISHED)
            .order_by(results_table.c.created_at, results_table.c.id)
        )
        rows: list[ResultRow] = []
        with self._read() as conn:
            for chunk in _chunks(result_ids):
                selected = query if chunk is None else query.where(results_table.c.id.in_(chunk))
                rows.extend(
                    ResultRow(
                        request_id=row.request_id,
                        record=SubmissionRecord.from_dict(row.record),
                        setting=row.setting,
                        result=row.result,
                        created_at=_aware(row.created_at),
                    )
                    for row in conn.execute(selected)
                )
        if result_ids is not None:
            rows.sort(key=lambda r: r.created_at)
        return rows

    def get_result(self, request_id: int, setting: str) -> ResultRow | None:
        """The result of one FINISHED request for one setting (a board row's detail)."""
        query = (
            sa.select(
                results_table.c.request_id,
                results_table.c.setting,
                results_table.c.result,
                results_table.c.created_at,
                requests_table.c.record,
            )
            .join(requests_table, requests_table.c.id == results_table.c.request_id)
            .where(
                requests_table.c.state == FINISHED,
                results_table.c.request_id == request_id,
                results_table.c.setting == setting,
            )
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return ResultRow(
            request_id=row.request_id,
            record=SubmissionRecord.from_dict(row.record),
            setting=row.setting,
            result=row.result,
            created_at=_aware(row.created_at),
        )

    def board_curves(self, result_ids: Iterable[int] | None = None) -> dict[int, list[Any]]:
        """result id -> stored lifelong curve, for the visible results that have one (or
        those of `result_ids`)."""
        query = (
            sa.select(results_table.c.id, results_table.c.lifelong_curve)
            .join(requests_table, requests_table.c.id == results_table.c.request_id)
            .where(
                requests_table.c.state == FINISHED,
                results_table.c.setting == "lifelong",
                results_table.c.lifelong_curve.is_not(None),
            )
        )
        curves: dict[int, list[Any]] = {}
        with self._read() as conn:
            for chunk in _chunks(result_ids):
                selected = query if chunk is None else query.where(results_table.c.id.in_(chunk))
                curves.update((row.id, row.lifelong_curve) for row in conn.execute(selected))
        return {k: v for k, v in curves.items() if v}

    def visible_result_ids(self) -> list[int]:
        """Ids of the results the board shows (those of FINISHED requests), ascending. The set
        only grows: a result becomes visible when its request finishes and never changes
        after, so a reader holding some rows fetches `board_rows(new_ids)` only."""
        query = (
            sa.select(results_table.c.id)
            .join(requests_table, requests_table.c.id == results_table.c.request_id)
            .where(requests_table.c.state == FINISHED)
            .order_by(results_table.c.id)
        )
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    def board_rows(self, result_ids: Iterable[int] | None = None) -> BoardRows:
        """The board's narrow rows of every visible result (or of `result_ids` among them),
        oldest first; see BoardRows. One query, no JSON parsed (the lifelong curves, which
        only the Lifelong tab draws, come from `board_curves`)."""
        columns = [
            results_table.c.id.label("result_id"),
            # only ordered by: the stored text as is (no per-row date parsing on SQLite)
            *(
                sa.type_coerce(results_table.c[name], sa.String).label(name)
                if name == "created_at"
                else results_table.c[name]
                for name in BOARD_KEYS[1:]
            ),
        ]
        query = (
            sa.select(*columns)
            .join(requests_table, requests_table.c.id == results_table.c.request_id)
            .where(requests_table.c.state == FINISHED)
        )
        rows: list[tuple[Any, ...]] = []
        with self._read() as conn:
            for chunk in _chunks(result_ids):
                selected = query if chunk is None else query.where(results_table.c.id.in_(chunk))
                result = conn.execute(selected)
                try:  # the driver's own tuples: these columns need no conversion
                    rows.extend(tuple(row) for row in result.cursor.fetchall())
                finally:
                    result.close()
        created = BOARD_KEYS.index("created_at")
        rows.sort(key=lambda row: (row[created], row[0]))
        return BoardRows(BOARD_KEYS, rows)

    def results_version(self) -> str:
        """Changes whenever the set of FINISHED results changes (one cheap query, so that a
        reader can skip `results()` when nothing is new)."""
        query = (
            sa.select(sa.func.count(results_table.c.id), sa.func.max(results_table.c.id))
            .join(requests_table, requests_table.c.id == results_table.c.request_id)
            .where(requests_table.c.state == FINISHED)
        )
        with self._read() as conn:
            count, last = conn.execute(query).one()
        return f"{count}:{last}"

    def import_finished(
        self,
        entries: Iterable[tuple[SubmissionRecord, Mapping[str, dict[str, Any]]]],
        *,
        now: datetime | None = None,
    ) -> list[int]:
        """Store requests that were already evaluated, in bulk: each (record, {setting: result})
        becomes one FINISHED request (attempts 1, no lease) holding its results, written like
        `save_result` writes them (JSON and board columns). The whole batch is one transaction
        of a few multi-row statements, so thousands of results take seconds, not minutes: for
        restoring a backup, copying results into another store, and the render benchmark.

        Nothing is written when a request's key is already active in the store
        (DuplicateRequestError) or appears twice in the batch, or when a result's setting is
        not one of its record's (ValueError). No quota applies. Returns the new request ids."""
        entries = [(record, dict(results)) for record, results in entries]
        keys: dict[str, int] = {}
        for index, (record, results) in enumerate(entries):
            if not results or not set(results) <= set(record.settings):
                raise ValueError(
                    f"entry {index}: results for {sorted(results)} but the request asks for "
                    f"{list(record.settings)}; give one result per requested setting"
                )
            if record.request_key in keys:
                raise ValueError(
                    f"entries {keys[record.request_key]} and {index} are the same request "
                    f"(request_key {record.request_key[:12]}…)"
                )
            keys[record.request_key] = index
        if not entries:
            return []
        moment = _naive(_aware(now) if now is not None else self.clock())
        with locked_write(self.engine, SUBMIT_LOCK) as conn:
            for chunk in _chunks(keys):
                existing = conn.execute(
                    sa.select(requests_table.c.id, requests_table.c.state)
                    .where(requests_table.c.request_key.in_(chunk), _active_key)
                    .limit(1)
                ).first()
                if existing is not None:
                    raise DuplicateRequestError(existing.id, existing.state)
            inserted = conn.execute(
                requests_table.insert().returning(
                    requests_table.c.id, sort_by_parameter_order=True
                ),
                [
                    {
                        **_request_values(record, moment),
                        "state": FINISHED,
                        "attempts": 1,
                        "lease_owner": None,
                        "heartbeat_at": moment,
                        "progress_done": None,
                        "progress_total": None,
                    }
                    for record, _ in entries
                ],
            )
            ids = [row.id for row in inserted]
            conn.execute(
                results_table.insert(),
                [
                    _result_row(request_id, setting, result, record, moment)
                    for request_id, (record, results) in zip(ids, entries, strict=True)
                    for setting, result in results.items()
                ],
            )
        return ids

    def count_requests(self) -> int:
        with self._read() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(requests_table)).scalar_one()
            )

    # ---- worker side ----

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
            # Another worker took it between our SELECT and UPDATE: try the next one.

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

    def save_result(
        self, request_id: int, worker_id: str, setting: str, result: dict[str, Any]
    ) -> None:
        """Store (or replace) the result of one setting; only the lease owner may."""
        now = self.clock()
        with self.engine.begin() as conn:
            if self._update_owned(conn, request_id, worker_id, {"updated_at": _naive(now)}) != 1:
                raise LeaseLostError(_lost_message(request_id, worker_id, "save a result"))
            record = conn.execute(
                sa.select(requests_table.c.record).where(requests_table.c.id == request_id)
            ).scalar_one()
            conn.execute(
                results_table.delete().where(
                    results_table.c.request_id == request_id, results_table.c.setting == setting
                )
            )
            conn.execute(
                results_table.insert().values(
                    _result_row(request_id, setting, result, record, now)
                )
            )

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

    # ---- internals ----

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
        return conn.execute(
            requests_table.update()
            .where(
                requests_table.c.id == request_id,
                requests_table.c.state == RUNNING,
                requests_table.c.lease_owner == worker_id,
            )
            .values(**values)
        ).rowcount

    def _active_by_key(self, key: str) -> Any:
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


def _chunks(ids: Iterable[int] | None, size: int = 900) -> Iterator[list[int] | None]:
    """None (no filter) or the ids in chunks small enough for one IN (...) on any database."""
    if ids is None:
        yield None
        return
    ids = sorted(set(ids))
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _is_retryable(err: sa.exc.DBAPIError) -> bool:
    """PostgreSQL asked for the transaction to be run again (serialization failure, deadlock)."""
    code = getattr(err.orig, "sqlstate", None) or getattr(err.orig, "pgcode", None)
    return code in _RETRYABLE_SQLSTATES


def _result_row(
    request_id: int,
    setting: str,
    result: dict[str, Any],
    record: SubmissionRecord | Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """One results row: the JSON, who it belongs to and the derived columns."""
    fields = record.to_dict() if isinstance(record, SubmissionRecord) else dict(record)
    return {
        "request_id": request_id,
        "setting": setting,
        "result": result,
        "model_id": fields["model_id"],
        "editor": fields["editor"],
        "created_at": _naive(now),
        **result_values(result, fields),
    }


def _lost_message(request_id: int, worker_id: str, action: str) -> str:
    return (
        f"worker {worker_id!r} cannot {action} for request #{request_id}: it no longer holds the "
        "lease (it expired and the request was reaped, or another worker owns it)"
    )


def _request_row(row: Any) -> RequestRow:
    return RequestRow(
        id=row.id,
        request_key=row.request_key,
        record=SubmissionRecord.from_dict(row.record),
        state=row.state,
        attempts=row.attempts,
        lease_owner=row.lease_owner,
        lease_expires_at=_aware(row.lease_expires_at),
        heartbeat_at=_aware(row.heartbeat_at),
        progress_done=row.progress_done,
        progress_total=row.progress_total,
        error=row.error,
        log_tail=row.log_tail,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )


def _naive(moment: datetime) -> datetime:
    """Stored form: naive UTC (portable across SQLite and PostgreSQL DateTime columns)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _aware(moment: Any) -> Any:
    if isinstance(moment, datetime) and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return moment


def copy_finished(source: Store, target: Store, *, batch: int = 500) -> tuple[int, int]:
    """Copy every FINISHED request of `source` with its results into `target` (through
    `import_finished`, `batch` requests per transaction): moving a SQLite store to
    PostgreSQL. Requests whose key is already active in `target` are skipped; pending,
    running, failed and cancelled requests are not copied (let the workers drain the queue
    first). Returns (requests copied, requests skipped)."""
    grouped: dict[int, tuple[SubmissionRecord, dict[str, dict[str, Any]]]] = {}
    for row in source.results():
        grouped.setdefault(row.request_id, (row.record, {}))[1][row.setting] = row.result
    entries = list(grouped.values())
    with target._read() as conn:
        present = set(
            conn.execute(sa.select(requests_table.c.request_key).where(_active_key)).scalars()
        )
    fresh = [entry for entry in entries if entry[0].request_key not in present]
    for start in range(0, len(fresh), batch):
        target.import_finished(fresh[start : start + batch])
    return len(fresh), len(entries) - len(fresh)
