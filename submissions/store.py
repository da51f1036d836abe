"""The durable queue and results store: one SQLAlchemy database (SQLite by default, PostgreSQL
for multi-host: `postgresql+psycopg://...`), explicit states, leases owned by one worker, and
atomic transitions. `Store` is the public API; it is put together from submissions/queue.py
(requests, states, leases), submissions/results.py (results, the board's reads, bulk import)
and submissions/rows.py (the rows handed out, the errors). The tables, engines and migrations
are in submissions/schema.py; what the board reads of a result in submissions/board.py."""

from __future__ import annotations

from submissions.queue import WORKER_LOST
from submissions.results import BOARD_KEYS, ResultStore, copy_finished
from submissions.rows import (
    BoardRows,
    DuplicateRequestError,
    LeaseLostError,
    RequestRow,
    ResultRow,
    StoreError,
    utc_now,
)
from submissions.schema import (
    ACTIVE_STATES,
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    STATES,
    efficiency_columns,
    metadata,
    requests_table,
    results_table,
)

__all__ = [
    "ACTIVE_STATES",
    "BOARD_KEYS",
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
    "copy_finished",
    "metadata",
    "requests_table",
    "results_table",
    "efficiency_columns",
    "utc_now",
]


class Store(ResultStore):
    """The queue and results behind one small interface; tables are created on first use.

    `clock` returns the current UTC time (tests pass a fake one). Every state change is one
    transaction whose UPDATE is guarded by the expected state (and lease owner), so concurrent
    workers and app threads never both win.
    """
