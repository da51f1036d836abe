"""The store's tables, its engines (SQLite and PostgreSQL) and the migrations run when a store
is opened. `submissions.store.Store` is the only user; its public API is unchanged by them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from contract import result_reader as read
from contract.form import FORM_BY_NAME
from contract.limits import IDENTITY_KEY_MAX_CHARS
from submissions.board import (
    BOARD_FLOAT_COLUMNS,
    BOARD_INT_COLUMNS,
    BOARD_JSON_COLUMNS,
    BOARD_TEXT_COLUMNS,
    board_values,
)
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

# PostgreSQL advisory lock keys (one 64-bit number per purpose, per database)
SCHEMA_LOCK = 0x4D4D45_0001  # creating and migrating the tables
SUBMIT_LOCK = 0x4D4D45_0002  # duplicate + quota check and insert of a request

metadata = sa.MetaData()


def form_column(name: str, *, index: bool = False) -> sa.Column:
    """The store column of a form field, as wide as contract.form says."""
    return sa.Column(name, sa.String(FORM_BY_NAME[name].stored_chars), nullable=False, index=index)


requests_table = sa.Table(
    "requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_key", sa.String(64), nullable=False, index=True),
    sa.Column("record", sa.JSON, nullable=False),
    # the form's fields that the queue filters on, as wide as the form allows
    *(form_column(name) for name in ("model_id", "revision", "model_type", "editor")),
    sa.Column("config_hash", sa.String(64), nullable=False),
    form_column("settings"),
    form_column("submitter"),
    form_column("organisation", index=True),
    # identity_key(organisation) and identity_key(submitter): what quotas compare
    sa.Column("organisation_key", sa.String(IDENTITY_KEY_MAX_CHARS), index=True),
    sa.Column("submitter_key", sa.String(IDENTITY_KEY_MAX_CHARS), index=True),
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
ACTIVE_KEY = requests_table.c.state.in_(ACTIVE_STATES)
sa.Index(
    "uq_requests_active_key",
    requests_table.c.request_key,
    unique=True,
    sqlite_where=ACTIVE_KEY,
    postgresql_where=ACTIVE_KEY,
)
sa.Index("ix_requests_state_created", requests_table.c.state, requests_table.c.created_at)

# The board's columns (submissions/board.py), written with each result.
BOARD_COLUMNS: tuple[sa.Column, ...] = (
    *(sa.Column(name, sa.String(size)) for name, size in BOARD_TEXT_COLUMNS.items()),
    # 64-bit: a parameter count passes 2**31 (PostgreSQL INTEGER) from 2.1B parameters on
    *(sa.Column(name, sa.BigInteger) for name in BOARD_INT_COLUMNS),
    *(sa.Column(name, sa.Float) for name in BOARD_FLOAT_COLUMNS),
    *(sa.Column(name, sa.JSON) for name in BOARD_JSON_COLUMNS),
)
BOARD_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in BOARD_COLUMNS)

results_table = sa.Table(
    "results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("requests.id"), nullable=False),
    sa.Column("setting", sa.String(20), nullable=False),
    sa.Column("model_id", sa.String(300), nullable=False),
    sa.Column("editor", sa.String(100), nullable=False),
    # efficiency, the board's sort keys (a store created with the first schema also has
    # reliability, generality and locality columns here: no longer written nor read)
    sa.Column("edit_latency_s", sa.Float),
    sa.Column("peak_memory_mb", sa.Float),
    sa.Column("created_at", sa.DateTime, nullable=False),
    *BOARD_COLUMNS,
    # last: SQLite stores a row's columns in this order, and a reader of the narrow columns
    # then never walks the JSON's overflow pages (a store created with the first schema has
    # the JSON fourth: still correct, slower to read)
    sa.Column("result", sa.JSON, nullable=False),
    sa.UniqueConstraint("request_id", "setting", name="uq_results_request_setting"),
)


def efficiency_columns(result: Mapping[str, Any]) -> dict[str, float | None]:
    """The board's efficiency sort keys, read from a result JSON (None where absent)."""
    efficiency = read.section(result, "efficiency")
    return {
        "edit_latency_s": read.finite(read.section(efficiency, "edit_latency_s").get("mean")),
        "peak_memory_mb": read.finite(efficiency.get("peak_memory_mb")),
    }


def result_values(
    result: dict[str, Any], record: SubmissionRecord | dict[str, Any]
) -> dict[str, Any]:
    """Every derived column of one results row: efficiency sort keys and the board's values."""
    return {**efficiency_columns(result), **board_values(result, record)}


def make_engine(url: str) -> Engine:
    """An engine for `url`. SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE transactions
    so that concurrent writers queue instead of failing on a stale snapshot; PostgreSQL
    (`postgresql+psycopg://...`, driver in requirements-postgres.txt) checks pooled
    connections before use."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            return sa.create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError(
                f"the store URL needs the database driver {err.name!r}: for PostgreSQL run "
                "`pip install -r requirements-postgres.txt` (psycopg) and use a "
                "postgresql+psycopg://user:password@host:5432/database URL"
            ) from err
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    memory = not parsed.database or parsed.database == ":memory:"
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        poolclass=sa.pool.StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
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


@contextmanager
def locked_write(engine: Engine, lock: int) -> Iterator[Connection]:
    """A write transaction that excludes every other one taking the same `lock`: SQLite's
    BEGIN IMMEDIATE already serialises writers; PostgreSQL takes a transaction-level advisory
    lock (released at commit or rollback) and runs READ COMMITTED, so each statement after
    the lock sees everything committed before it."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
        yield conn


def create_schema(engine: Engine) -> None:
    """Create missing tables and indexes and migrate older stores, in one locked transaction
    (concurrent openers wait for each other instead of racing on CREATE TABLE)."""
    with locked_write(engine, SCHEMA_LOCK) as conn:
        metadata.create_all(conn)
        _add_identity_keys(conn)
        _add_board_columns(conn)
        for table in metadata.sorted_tables:  # indexes added to tables that already existed
            for index in table.indexes:
                index.create(conn, checkfirst=True)


def _column_names(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def _add_column(conn: Connection, table: sa.Table, column: sa.Column) -> None:
    kind = column.type.compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")


def _add_identity_keys(conn: Connection) -> None:
    """Stores created before the identity keys existed get the two columns (and their
    indexes), filled from each row's organisation and submitter."""
    existing = _column_names(conn, "requests")
    missing = [name for name in ("organisation_key", "submitter_key") if name not in existing]
    if not missing:
        return
    for name in missing:
        _add_column(conn, requests_table, requests_table.c[name])
    rows = conn.execute(
        sa.select(requests_table.c.id, requests_table.c.organisation, requests_table.c.submitter)
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
            index.create(conn, checkfirst=True)


def _add_board_columns(conn: Connection) -> None:
    """Stores written before a board column existed (or before the evaluator's metric set
    grew) get the column, filled once from each stored result JSON and its request."""
    existing = _column_names(conn, "results")
    missing = [c for c in BOARD_COLUMNS if c.name not in existing]
    if not missing:
        return
    for column in missing:
        _add_column(conn, results_table, results_table.c[column.name])
    rows = conn.execute(
        sa.select(results_table.c.id, results_table.c.result, requests_table.c.record).join(
            requests_table, requests_table.c.id == results_table.c.request_id
        )
    ).all()
    names = {c.name for c in missing}
    for row in rows:
        values = board_values(row.result or {}, row.record or {})
        conn.execute(
            results_table.update()
            .where(results_table.c.id == row.id)
            .values({k: v for k, v in values.items() if k in names})
        )
