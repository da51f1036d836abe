"""The durable queue and results store: one SQLAlchemy database (SQLite by default, PostgreSQL
for multi-host), explicit states, leases owned by one worker, and atomic transitions."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from submissions.quotas import Quota
from submissions.record import SubmissionRecord, identity_key

PENDING, RUNNING, FINISHED, FAILED, CANCELLED = (
    "PENDING",
    "RUNNING",
    "FINISHED",
    "FAILED",
    "CANCELLED",
)
STATES = (PENDING, RUNNING, FINISHED, FAILED, CANCELLED)
# A request_key may appear at most once among these states; FAILED/CANCELLED may be resubmitted.
ACTIVE_STATES = (PENDING, RUNNING, FINISHED)
WORKER_LOST = "worker lost"
_SERIALIZATION_RETRIES = 5

metadata = sa.MetaData()

requests_table = sa.Table(
    "requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_key", sa.String(64), nullable=False, index=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("model_id", sa.String(300), nullable=False),
    sa.Column("revision", sa.String(100), nullable=False),
    sa.Column("model_type", sa.String(20), nullable=False),
    sa.Column("editor", sa.String(100), nullable=False),
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("settings", sa.String(100), nullable=False),
    sa.Column("submitter", sa.String(200), nullable=False),
    sa.Column("organisation", sa.String(200), nullable=False, index=True),
    # identity_key(organisation) and identity_key(submitter): what quotas compare
    sa.Column("organisation_key", sa.String(200), index=True),
    sa.Column("submitter_key", sa.String(200), index=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_expires_at", sa.DateTime),
    sa.Column("heartbeat_at", sa.DateTime),
    sa.Column("progress_done", sa.Integer),
    sa.Column("progress_total", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("log_tail", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
_active_key = requests_table.c.state.in_(ACTIVE_STATES)
sa.Index(
    "uq_requests_active_key",
    requests_table.c.request_key,
    unique=True,
    sqlite_where=_active_key,
    postgresql_where=_active_key,
)

results_table = sa.Table(
    "results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("requests.id"), nullable=False),
    sa.Column("setting", sa.String(20), nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("model_id", sa.String(300), nullable=False),
    sa.Column("editor", sa.String(100), nullable=False),
    sa.Column("reliability", sa.Float),
    sa.Column("generality", sa.Float),
    sa.Column("locality", sa.Float),
    sa.Column("edit_latency_s", sa.Float),
    sa.Column("peak_memory_mb", sa.Float),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("request_id", "setting", name="uq_results_request_setting"),
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
        self.engine = _make_engine(url)
        try:
            metadata.create_all(self.engine)
        except sa.exc.OperationalError:
            metadata.create_all(self.engine)  # another process created the tables meanwhile
        _add_identity_keys(self.engine)

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
        for attempt in range(_SERIALIZATION_RETRIES):
            try:
                with self._serializable_write() as conn:
                    new_id = _insert_checked(conn, record, key, quota, now)
                break
            except sa.exc.IntegrityError:
                # Another transaction inserted the same key between our check and our insert.
                existing = self._active_by_key(key)
                if existing is None:
                    raise
                raise DuplicateRequestError(existing.id, existing.state) from None
            except sa.exc.DBAPIError as err:
                if not _is_serialization_failure(err) or attempt == _SERIALIZATION_RETRIES - 1:
                    raise
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

    def results(self) -> list[ResultRow]:
        """Every stored result of a FINISHED request, oldest first."""
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
        with self._read() as conn:
            return [
                ResultRow(
                    request_id=row.request_id,
                    record=SubmissionRecord.from_dict(row.record),
                    setting=row.setting,
                    result=row.result,
                    created_at=_aware(row.created_at),
                )
                for row in conn.execute(query)
            ]

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
                candidate = conn.execute(
                    sa.select(requests_table.c.id)
                    .where(requests_table.c.state == PENDING)
                    .order_by(requests_table.c.created_at, requests_table.c.id)
                    .limit(1)
                ).scalar()
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
            model_id = conn.execute(
                sa.select(requests_table.c.model_id, requests_table.c.editor).where(
                    requests_table.c.id == request_id
                )
            ).one()
            conn.execute(
                results_table.delete().where(
                    results_table.c.request_id == request_id, results_table.c.setting == setting
                )
            )
            conn.execute(
                results_table.insert().values(
                    request_id=request_id,
                    setting=setting,
                    result=result,
                    model_id=model_id.model_id,
                    editor=model_id.editor,
                    created_at=_naive(now),
                    **sort_columns(result),
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
    def _serializable_write(self) -> Iterator[Connection]:
        """A write transaction in which the duplicate and quota checks cannot race: SQLite's
        BEGIN IMMEDIATE already serializes writers; other databases run it SERIALIZABLE."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name != "sqlite":
                conn.execution_options(isolation_level="SERIALIZABLE")
            with conn.begin():
                yield conn

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
            request_key=key,
            record=record.to_dict(),
            model_id=record.model_id,
            revision=record.revision,
            model_type=record.model_type,
            editor=record.editor,
            config_hash=record.config_hash,
            settings=",".join(record.settings),
            submitter=record.submitter,
            organisation=record.organisation,
            organisation_key=record.organisation_key,
            submitter_key=record.submitter_key,
            state=PENDING,
            attempts=0,
            created_at=_naive(now),
            updated_at=_naive(now),
        )
    ).inserted_primary_key[0]


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


def _add_identity_keys(engine: Engine) -> None:
    """Stores created before the identity keys existed get the two columns (and their
    indexes), filled from each row's organisation and submitter."""
    columns = {c["name"] for c in sa.inspect(engine).get_columns("requests")}
    missing = [name for name in ("organisation_key", "submitter_key") if name not in columns]
    if not missing:
        return
    for name in missing:
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"ALTER TABLE requests ADD COLUMN {name} VARCHAR(200)")
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            continue  # another process added it meanwhile
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(
                requests_table.c.id, requests_table.c.organisation, requests_table.c.submitter
            )
        ).all()
        for row in rows:
            conn.execute(
                requests_table.update()
                .where(requests_table.c.id == row.id)
                .values(
                    organisation_key=identity_key(row.organisation),
                    submitter_key=identity_key(row.submitter),
                )
            )
    for index in requests_table.indexes:
        if {c.name for c in index.columns} & set(missing):
            index.create(engine, checkfirst=True)


def _is_serialization_failure(err: sa.exc.DBAPIError) -> bool:
    """PostgreSQL's SQLSTATE 40001: a SERIALIZABLE transaction lost a race; retry it."""
    code = getattr(err.orig, "sqlstate", None) or getattr(err.orig, "pgcode", None)
    return code == "40001"


def sort_columns(result: dict[str, Any]) -> dict[str, float | None]:
    """The leaderboard's sort keys, read from a result JSON (None where absent)."""
    overall = (result.get("metrics") or {}).get("overall") or {}
    efficiency = result.get("efficiency") or {}

    def mean(metric: str) -> float | None:
        value = (overall.get(metric) or {}).get("mean")
        return float(value) if value is not None else None

    latency = (efficiency.get("edit_latency_s") or {}).get("mean")
    memory = efficiency.get("peak_memory_mb")
    return {
        "reliability": mean("reliability"),
        "generality": mean("generality"),
        "locality": mean("locality"),
        "edit_latency_s": float(latency) if latency is not None else None,
        "peak_memory_mb": float(memory) if memory is not None else None,
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


def _make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE transactions so
    that concurrent writers queue instead of failing on a stale snapshot."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    memory = not parsed.database or parsed.database == ":memory:"
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        poolclass=sa.pool.StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event emit BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("mme_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
