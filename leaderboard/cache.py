"""The app's caches of the stored results: the results frame (and lifelong curves, and the
frame with every column) rebuilt once per change of the results, not once per click."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from leaderboard.long_tail import by_type_frame
from leaderboard.table import (
    StoredResult,
    board_curves,
    board_frame,
    board_wide,
    lifelong_curves,
    results_frame,
)

if TYPE_CHECKING:
    from submissions import BoardRows, ResultRow

__all__ = ["BoardCache", "BoardSource", "CachedResults", "ResultsCache"]


class CachedResults(Protocol):
    """What the tabs read from a cache (ResultsCache or BoardCache)."""

    def get(self) -> tuple[str, pd.DataFrame, pd.DataFrame]:
        """(results version, board frame, lifelong curves as of the last `curves()`)."""
        ...

    def curves(self) -> pd.DataFrame:
        """The lifelong curves of the current results."""
        ...

    def full_frame(self) -> tuple[str, pd.DataFrame]:
        """(results version, the frame with every column)."""
        ...

    def result(self, request_id: int, setting: str) -> StoredResult | None:
        """One full result (None where the frame's rows carry every column already)."""
        ...

    def by_type(self) -> pd.DataFrame:
        """Every visible result's per-question-type metrics (leaderboard.long_tail)."""
        ...


class BoardSource(Protocol):
    """What BoardCache reads of the store (leaderboard.service.LeaderboardService is one): the
    results version, the visible result ids, the board's narrow rows and curves, and full
    results only for the all-results CSV and a row's detail."""

    def results_version(self) -> str: ...

    def visible_result_ids(self) -> list[int]: ...

    def board(self, result_ids: Iterable[int] | None = None) -> BoardRows: ...

    def board_curves(self, result_ids: Iterable[int] | None = None) -> dict[int, list[Any]]: ...

    def results(self, result_ids: Iterable[int] | None = None) -> list[ResultRow]: ...

    def result(self, request_id: int, setting: str) -> ResultRow | None: ...


class ResultsCache:
    """Builds the results frame once per change of the stored results (not once per click).
    `version()`, when given, is a cheap token that changes whenever the results change; it
    spares reading every result on each refresh."""

    def __init__(
        self, load_rows: Callable[[], list[Any]], version: Callable[[], str] | None = None
    ) -> None:
        self._load_rows = load_rows
        self._version = version
        self._lock = threading.Lock()
        self._key: str | None = None
        self._frame = results_frame([])
        self._curves = lifelong_curves([])
        self._types = by_type_frame([])

    def get(self) -> tuple[str, pd.DataFrame, pd.DataFrame]:
        with self._lock:
            token = self._version() if self._version else None
            if token is not None and token == self._key:
                return self._key, self._frame, self._curves
            rows = self._load_rows()
            key = token if token is not None else _fingerprint(rows)
            if key != self._key:
                self._frame = results_frame(rows)
                self._curves = lifelong_curves(rows)
                self._types = by_type_frame(rows)
                self._key = key
            return key, self._frame, self._curves

    def curves(self) -> pd.DataFrame:
        """The lifelong curves of the current results."""
        return self.get()[2]

    def full_frame(self) -> tuple[str, pd.DataFrame]:
        """The frame with every column (here the same frame)."""
        key, frame, _ = self.get()
        return key, frame

    def result(self, request_id: int, setting: str) -> StoredResult | None:
        return None  # rows of this cache carry every column already

    def by_type(self) -> pd.DataFrame:
        """The per-question-type frame of the current results."""
        self.get()
        return self._types


class BoardCache:
    """The board's frame kept up to date incrementally from a source with the
    LeaderboardService read methods: when `results_version()` changes, only the results that
    became visible since the last refresh are read, as narrow rows (`board(ids)`: stored
    columns, no JSON parsed), and appended. The lifelong curves (`curves()`) and the full frame
    (every column: the all-results CSV) are brought up to date the same way, only when asked
    for; a row's detail reads its one result. `get()[2]` holds the curves as of the last
    `curves()` call.

    `recheck_s`: for that long after a check, `get()` answers without asking the store for
    its version again (one page load calls it from several handlers; on PostgreSQL with
    10,000 results each check is a ~20 ms query). 0 checks on every call."""

    def __init__(
        self,
        source: BoardSource,
        recheck_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._recheck_s = recheck_s
        self._clock = clock
        self._checked_at = -math.inf
        self._lock = threading.Lock()
        self._full_lock = threading.Lock()
        self._key: str | None = None
        self._ids: set[int] = set()
        self._wide: pd.DataFrame | None = None
        self._frame = board_frame(board_wide(*_empty_board(source)))
        self._curves = board_curves(pd.DataFrame(), {})
        self._curve_lock = threading.Lock()
        self._curve_key: str | None = None
        self._curve_map: dict[int, Any] = {}
        self._curve_ids: set[int] = set()
        self._full_key: str | None = None
        self._full_ids: set[int] = set()
        self._full = results_frame([])
        self._types_lock = threading.Lock()
        self._types_key: str | None = None
        self._type_parts: dict[tuple[int, str], pd.DataFrame] = {}
        self._types = by_type_frame([])

    def get(self) -> tuple[str, pd.DataFrame, pd.DataFrame]:
        with self._lock:
            now = self._clock()
            if self._key is not None and now - self._checked_at < self._recheck_s:
                return self._key, self._frame, self._curves
            token = self._source.results_version()
            self._checked_at = now
            if token == self._key:
                return self._key, self._frame, self._curves
            visible = set(self._source.visible_result_ids())
            new = visible - self._ids
            gone = self._ids - visible
            wide = self._wide
            if new:
                board = self._source.board(None if wide is None else sorted(new))
                added = board_wide(board.columns, board.rows)
                wide = added if wide is None else pd.concat([wide, added], ignore_index=True)
            if wide is not None and gone:
                wide = wide[~wide["result_id"].isin(gone)]
            if wide is not None and (new or gone):
                wide = wide.sort_values(["created_at", "result_id"], kind="stable")
                wide = wide.reset_index(drop=True)
                self._wide = wide
                self._ids = set(wide["result_id"].tolist())
                self._frame = board_frame(wide)
            self._key = token
            return self._key, self._frame, self._curves

    def curves(self) -> pd.DataFrame:
        """The lifelong curves of the visible results, reading only the curves of results
        that became visible since the last call."""
        key, _, _ = self.get()
        with self._curve_lock:
            if key == self._curve_key:
                return self._curves
            with self._lock:
                ids, wide = set(self._ids), self._wide
            new = ids - self._curve_ids
            if new:
                first = not self._curve_ids
                self._curve_map.update(self._source.board_curves(None if first else sorted(new)))
            for gone in set(self._curve_map) - ids:
                del self._curve_map[gone]
            self._curve_ids = ids
            frame = wide if wide is not None else pd.DataFrame()
            self._curves = board_curves(frame, self._curve_map)
            self._curve_key = key
            return self._curves

    def full_frame(self) -> tuple[str, pd.DataFrame]:
        """Every column of every visible result (`results_frame`), parsing only the results
        that became visible since the last call."""
        key, _, _ = self.get()
        with self._full_lock:
            if key == self._full_key:
                return key, self._full
            with self._lock:
                ids = set(self._ids)
            new, gone = ids - self._full_ids, self._full_ids - ids
            full = self._full
            if gone:
                full = full[~full["_result_id"].isin(gone)]
            if new:
                rows = self._source.results(sorted(new))
                added = results_frame(rows)
                added["_result_id"] = _result_ids_of(rows, self._wide)
                full = pd.concat([full, added], ignore_index=True) if len(full) else added
            self._full, self._full_ids, self._full_key = full, ids, key
            return key, full

    def result(self, request_id: int, setting: str) -> ResultRow | None:
        return self._source.result(request_id, setting)

    def by_type(self) -> pd.DataFrame:
        """Every visible result's per-question-type metrics, parsing only the results that
        became visible since the last call."""
        key, _, _ = self.get()
        with self._types_lock:
            if key == self._types_key:
                return self._types
            with self._lock:
                ids, wide = set(self._ids), self._wide
            keys = _result_keys(wide, ids)  # result id -> (request id, setting)
            live = set(keys.values())
            new_ids = sorted(i for i, k in keys.items() if k not in self._type_parts)
            added = []
            for row in self._source.results(new_ids) if new_ids else []:
                added.append(by_type_frame([row]))
                self._type_parts[(row.request_id, row.setting)] = added[-1]
            gone = set(self._type_parts) - live
            for result in gone:
                del self._type_parts[result]
            # append what arrived; rebuild from the parts only when a result went away
            kept = [self._types] if len(self._types) else []  # an empty frame's dtypes differ
            parts = list(self._type_parts.values()) if gone else [*kept, *added]
            if gone or added:
                self._types = pd.concat(parts, ignore_index=True) if parts else by_type_frame([])
            self._types_key = key
            return self._types


def _result_keys(wide: pd.DataFrame | None, ids: set[int]) -> dict[int, tuple[int, str]]:
    """The visible results' (request id, setting), by result id."""
    if wide is None:
        return {}
    columns = zip(wide["result_id"], wide["request_id"], wide["setting"], strict=True)
    return {int(i): (int(r), str(st)) for i, r, st in columns if int(i) in ids}


def _empty_board(source: BoardSource) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The board's column names, from an empty board_rows answer."""
    board = source.board([])
    return board.columns, []


def _result_ids_of(rows: list[Any], wide: pd.DataFrame | None) -> list[int]:
    """For each line of results_frame(rows) (3 per row: one per tier), its result id."""
    from contract.names import TIERS

    if wide is None or not len(wide):
        return [-1] * (len(rows) * len(TIERS))
    by_key = dict(
        zip(zip(wide["request_id"], wide["setting"], strict=True), wide["result_id"], strict=True)
    )
    ids = [int(by_key.get((row.request_id, row.setting), -1)) for row in rows]
    return [i for i in ids for _ in TIERS]


def _fingerprint(rows: list[Any]) -> str:
    digest = hashlib.sha1(str(len(rows)).encode())
    for row in rows:
        result = row.get("result") if isinstance(row, Mapping) else getattr(row, "result", None)
        setting = row.get("setting") if isinstance(row, Mapping) else getattr(row, "setting", "")
        created = (result or {}).get("created_at", "")
        digest.update(f"{setting}|{created}|{id(result) if not created else ''}".encode())
    return digest.hexdigest()
