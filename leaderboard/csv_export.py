"""CSV downloads, written only under paths.downloads_dir(): the leaderboard as currently
filtered, and every result with every metric, interval, efficiency figure and provenance."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pandas as pd

from evaluator import paths
from leaderboard.columns import COLUMNS, visible_columns

ALL_RESULTS_KEYS = [c.key for c in COLUMNS if c.key not in ("model", "rank")]


def filtered_csv_frame(view: pd.DataFrame, selected: list[str] | None) -> pd.DataFrame:
    """The shown columns of the filtered view, headed by column keys; model as plain id."""
    keys = [c.key for c in visible_columns(selected)]
    out = view[keys].reset_index(drop=True)
    out["model"] = view["model_id"].to_numpy()
    return out


def _write(frame: pd.DataFrame, stem: str, folder: Path | None) -> Path:
    """Write under a name derived from the content, so that the refreshes of an unchanged
    table reuse one file instead of filling the folder."""
    folder = (folder or paths.downloads_dir()).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    data = frame.to_csv(index=False).encode()
    path = folder / f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}.csv"
    if not path.exists():
        partial = path.with_suffix(f".{threading.get_ident()}.partial")
        partial.write_bytes(data)
        partial.replace(path)
    return path


def write_filtered_csv(
    view: pd.DataFrame, selected: list[str] | None, folder: Path | None = None
) -> Path:
    """Write the currently filtered leaderboard (shown columns) and return the file."""
    return _write(filtered_csv_frame(view, selected), "leaderboard-filtered", folder)


def write_all_results_csv(frame: pd.DataFrame, folder: Path | None = None) -> Path:
    """Write every result line (request x setting x tier) with every non-display column."""
    return _write(frame[ALL_RESULTS_KEYS], "multimededit-all-results", folder)
