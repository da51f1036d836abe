"""The queue tab's table: every request with its state, progress and, when failed, its reason."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from submissions import RequestRow

    # one request as the queue tab reads it: the store's RequestRow, or a mapping of its fields
    QueueRow = RequestRow | Mapping[str, Any]

QUEUE_COLUMNS = [
    "id",
    "state",
    "progress",
    "model",
    "editor",
    "settings",
    "submitter",
    "submitted",
    "reason",
]
STATE_ORDER = {"RUNNING": 0, "PENDING": 1, "FAILED": 2, "FINISHED": 3, "CANCELLED": 4}


def _get(row: QueueRow, *names: str, default: object = None) -> Any:  # noqa: ANN401 - a field looked up by name
    """First present attribute/key among `names`, also looking inside a nested `record`."""
    sources = [row]
    nested = row.get("record") if isinstance(row, Mapping) else getattr(row, "record", None)
    if nested is not None:
        sources.append(nested)
    for source in sources:
        for name in names:
            value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
            if value is not None:
                return value
    return default


def _state(row: QueueRow) -> str:
    state = _get(row, "state", default="")
    return str(getattr(state, "value", state)).upper()


def _progress(row: QueueRow) -> str:
    done, total = _get(row, "done", "progress_done"), _get(row, "total", "progress_total")
    if total:
        return f"{done or 0}/{total}"
    return ""


def queue_frame(rows: Iterable[QueueRow]) -> pd.DataFrame:
    """Requests ordered running, pending (oldest first), failed, finished; one line each."""
    records = []
    for row in rows:
        settings = _get(row, "settings", default=())
        records.append(
            {
                "id": _get(row, "id", default=""),
                "state": _state(row),
                "progress": _progress(row),
                "model": _get(row, "model_id", default=""),
                "editor": _get(row, "editor", default=""),
                "settings": ", ".join(settings) if not isinstance(settings, str) else settings,
                "submitter": _get(row, "submitter", default=""),
                "submitted": str(_get(row, "submitted_at", default=""))[:19].replace("T", " "),
                "reason": _get(row, "error", "reason", default="") or "",
            }
        )
    frame = pd.DataFrame.from_records(records, columns=QUEUE_COLUMNS)
    if frame.empty:
        return frame
    frame["_order"] = frame["state"].map(STATE_ORDER).fillna(9)
    frame = frame.sort_values(["_order", "submitted"], kind="stable").drop(columns="_order")
    return frame.reset_index(drop=True)
