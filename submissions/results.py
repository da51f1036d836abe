"""Results: what workers save, what the board reads (narrow stored columns, no JSON), full
results for a row's detail and the CSV, and bulk import and copy between stores."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from submissions.board import BOARD_JSON_COLUMNS
from submissions.queue import RequestQueue, _request_values, owned_update
from submissions.record import SubmissionRecord
from submissions.rows import (
    BoardRows,
    DuplicateRequestError,
    LeaseLostError,
    ResultRow,
    _aware,
    _lost_message,
    _naive,
    _result_row,
)
from submissions.schema import ACTIVE_KEY as _active_key
from submissions.schema import (
    BOARD_COLUMN_NAMES,
    FINISHED,
    SUBMIT_LOCK,
    locked_write,
    requests_table,
    results_table,
)

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


class ResultStore(RequestQueue):
    """The queue plus its results."""

    def results(self, result_ids: Iterable[int] | None = None) -> list[ResultRow]:
        """Every stored result of a FINISHED request, oldest first (with `result_ids`: only
        those results). Parses every result JSON: the board reads `board_rows` instead."""
        query = _finished_results().order_by(results_table.c.created_at, results_table.c.id)
        rows: list[ResultRow] = []
        with self._read() as conn:
            for chunk in _chunks(result_ids):
                selected = query if chunk is None else query.where(results_table.c.id.in_(chunk))
                rows.extend(_full_result(row) for row in conn.execute(selected))
        if result_ids is not None:
            rows.sort(key=lambda r: r.created_at)
        return rows

    def get_result(self, request_id: int, setting: str) -> ResultRow | None:
        """The result of one FINISHED request for one setting (a board row's detail)."""
        query = _finished_results().where(
            results_table.c.request_id == request_id, results_table.c.setting == setting
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _full_result(row)

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

    def save_result(
        self, request_id: int, worker_id: str, setting: str, result: dict[str, Any]
    ) -> None:
        """Store (or replace) the result of one setting; only the lease owner may. Two
        statements: the lease check returns the request's record, and the row is upserted."""
        now = self.clock()
        with self.engine.begin() as conn:
            record = conn.execute(
                owned_update(request_id, worker_id)
                .values(updated_at=_naive(now))
                .returning(requests_table.c.record)
            ).scalar_one_or_none()
            if record is None:
                raise LeaseLostError(_lost_message(request_id, worker_id, "save a result"))
            row = _result_row(request_id, setting, result, record, now)
            conn.execute(_upsert_result(conn.dialect.name), row)


@functools.cache
def _upsert_result(dialect_name: str) -> sa.Insert:
    """INSERT of a results row (its values as the execute parameters) that replaces the row
    of the same request and setting (a retried run): INSERT ... ON CONFLICT DO UPDATE, which
    SQLite and PostgreSQL both have. Built once per dialect."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    insert = dialect.insert(results_table)
    keys = {"id", "request_id", "setting"}
    replaced = {c.name: insert.excluded[c.name] for c in results_table.c if c.name not in keys}
    return insert.on_conflict_do_update(
        index_elements=[results_table.c.request_id, results_table.c.setting], set_=replaced
    )


def _finished_results() -> sa.Select:
    """Full results of FINISHED requests, each with its request's record."""
    return (
        sa.select(
            results_table.c.request_id,
            results_table.c.setting,
            results_table.c.result,
            results_table.c.created_at,
            requests_table.c.record,
        )
        .join(requests_table, requests_table.c.id == results_table.c.request_id)
        .where(requests_table.c.state == FINISHED)
    )


def _full_result(row: sa.Row) -> ResultRow:
    """A row of `_finished_results` as a ResultRow."""
    return ResultRow(
        request_id=row.request_id,
        record=SubmissionRecord.from_dict(row.record),
        setting=row.setting,
        result=row.result,
        created_at=_aware(row.created_at),
    )


def _chunks(ids: Iterable[int] | None, size: int = 900) -> Iterator[list[int] | None]:
    """None (no filter) or the ids in chunks small enough for one IN (...) on any database."""
    if ids is None:
        yield None
        return
    ids = sorted(set(ids))
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def copy_finished(source: ResultStore, target: ResultStore, *, batch: int = 500) -> tuple[int, int]:
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
