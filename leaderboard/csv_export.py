"""CSV downloads, written only under paths.downloads_dir(): the leaderboard as currently
filtered, and every result with every metric, interval, efficiency figure and provenance.

Every text cell that a spreadsheet would read as a formula (starting with =, +, -, @, tab or
carriage return: the OWASP rule) is prefixed with a single quote; numbers stay numbers. Old
files are pruned whenever a new one is written (contract.limits: DOWNLOADS_MAX_FILES,
DOWNLOADS_MAX_AGE_S)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from contract import paths
from contract.limits import DOWNLOADS_MAX_AGE_S, DOWNLOADS_MAX_FILES
from leaderboard.columns import COLUMNS, visible_columns

ALL_RESULTS_KEYS = [c.key for c in COLUMNS if c.key not in ("model", "rank")]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_PARTIAL_MAX_AGE_S = 60


def neutralise_cell(value: object) -> object:
    """A text cell a spreadsheet would evaluate as a formula, made inert with a leading single
    quote (shown as text); plain numbers written as text, and non-text cells, are unchanged."""
    formula = isinstance(value, str) and value.startswith(FORMULA_PREFIXES)
    return "'" + value if formula and not _PLAIN_NUMBER.match(value) else value


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with every text column's cells neutralised; numeric columns as is."""
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]) and not pd.api.types.is_bool_dtype(
            out[column]
        ):
            out[column] = out[column].map(neutralise_cell)
    return out


def filtered_csv_frame(view: pd.DataFrame, selected: list[str] | None) -> pd.DataFrame:
    """The shown columns of the filtered view, headed by column keys; model as plain id."""
    keys = [c.key for c in visible_columns(selected)]
    out = view[keys].reset_index(drop=True)
    out["model"] = view["model_id"].to_numpy()
    return out


def _write(frame: pd.DataFrame, stem: str, folder: Path | None) -> Path:
    """Write under a name derived from the content, so that the refreshes of an unchanged
    table reuse one file instead of filling the folder; then prune old files."""
    folder = (folder or paths.downloads_dir()).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    # RFC 4180 line ends: a cell holding a carriage return is then quoted, not split
    data = neutralised(frame).to_csv(index=False, lineterminator="\r\n").encode()
    path = folder / f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}.csv"
    if path.exists():
        with contextlib.suppress(OSError):
            os.utime(path)  # still in use: keep it young
    else:
        partial = path.with_suffix(f".{threading.get_ident()}.partial")
        partial.write_bytes(data)
        partial.replace(path)
    prune_downloads(folder, keep=path)
    return path


def prune_downloads(
    folder: Path,
    *,
    keep: Path | None = None,
    max_files: int = DOWNLOADS_MAX_FILES,
    max_age_s: float = DOWNLOADS_MAX_AGE_S,
) -> list[Path]:
    """Delete CSVs beyond the newest `max_files` or older than `max_age_s`, and leftover
    partial files; `keep` is never deleted. Returns the deleted files."""
    now = time.time()
    entries = []
    for file in folder.glob("*"):
        with contextlib.suppress(OSError):
            entries.append((file.stat().st_mtime, file))
    entries.sort(reverse=True)
    deleted = []
    kept_csv = 0
    for mtime, file in entries:
        if file == keep:
            continue
        if file.suffix == ".partial":
            expired = now - mtime > _PARTIAL_MAX_AGE_S
        elif file.suffix == ".csv":
            kept_csv += 1
            expired = kept_csv >= max_files or now - mtime > max_age_s
        else:
            continue
        if expired:
            with contextlib.suppress(OSError):
                file.unlink()
                deleted.append(file)
    return deleted


def write_filtered_csv(
    view: pd.DataFrame, selected: list[str] | None, folder: Path | None = None
) -> Path:
    """Write the currently filtered leaderboard (shown columns) and return the file."""
    return _write(filtered_csv_frame(view, selected), "leaderboard-filtered", folder)


def write_all_results_csv(frame: pd.DataFrame, folder: Path | None = None) -> Path:
    """Write every result line (request x setting x tier) with every non-display column."""
    return _write(frame[ALL_RESULTS_KEYS], "multimededit-all-results", folder)


def write_by_type_csv(frame: pd.DataFrame, folder: Path | None = None) -> Path:
    """Write the per-question-type frame (`leaderboard.long_tail.by_type_frame`: one line per
    result x question type, with n, each metric's mean and interval and the too_few_edits
    flag) and return the file; the all-results CSV keeps its columns."""
    from leaderboard.long_tail import BY_TYPE_COLUMNS

    return _write(frame[list(BY_TYPE_COLUMNS)], "multimededit-by-type", folder)


def write_result_json(result: Mapping[str, Any], stem: str, folder: Path | None = None) -> Path:
    """Write one result JSON (as stored) under the downloads folder and return the file, named
    `<stem>-<content hash>.json` (`stem`: letters, digits, - and _ kept); the oldest result
    files beyond DOWNLOADS_MAX_FILES, or older than DOWNLOADS_MAX_AGE_S, are deleted."""
    folder = (folder or paths.downloads_dir()).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(result, indent=2, sort_keys=True).encode()
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:80] or "result"
    path = folder / f"{safe}-{hashlib.sha256(data).hexdigest()[:16]}.json"
    if path.exists():
        with contextlib.suppress(OSError):
            os.utime(path)
    else:
        partial = path.with_suffix(f".{threading.get_ident()}.partial")
        partial.write_bytes(data)
        partial.replace(path)
    now = time.time()
    files = sorted(
        ((f.stat().st_mtime, f) for f in folder.glob("*.json") if f != path), reverse=True
    )
    for index, (mtime, file) in enumerate(files):
        if index + 1 >= DOWNLOADS_MAX_FILES or now - mtime > DOWNLOADS_MAX_AGE_S:
            with contextlib.suppress(OSError):
                file.unlink()
    prune_downloads(folder, keep=path)
    return path
