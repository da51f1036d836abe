"""The rows the store hands out (requests, results, the board's narrow rows), its errors, and
the conversions between database values and those rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa

from submissions.record import SubmissionRecord
from submissions.schema import (
    result_values,
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


def _lost_message(request_id: int, worker_id: str, action: str) -> str:
    return (
        f"worker {worker_id!r} cannot {action} for request #{request_id}: it no longer holds the "
        "lease (it expired and the request was reaped, or another worker owns it)"
    )


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


def _request_row(row: sa.Row[*tuple[Any, ...]]) -> RequestRow:
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


# a database moment that may be absent (a lease's expiry): _aware keeps None as None
_MaybeMoment = TypeVar("_MaybeMoment", datetime, None)


def _aware(moment: _MaybeMoment) -> _MaybeMoment:
    if isinstance(moment, datetime) and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return moment
