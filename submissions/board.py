"""What the leaderboard shows of one result, as plain values stored in real columns of the
results table when the result is written, so that the board reads a narrow frame and never
parses result JSON (only a row's detail and the all-results CSV do).

The metric set is the contract's (`contract.names`: TIERS, METRICS, PRE_EDIT_METRICS), read
from the result through `contract.result_reader`; per task tier a metric's mean is stored as
`<tier>__<metric>`, with the score's interval ends and the pre-edit values. A store opened
after the metric set changed gets the new columns and fills them from the stored JSON once
(`submissions.schema`).
`leaderboard.table.board_frame` turns the stored values into the board's columns; a test checks
that they equal `leaderboard.table.results_frame` on every shared column."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contract import result_reader as read
from contract.names import METRICS, PRE_EDIT_METRICS, TIERS
from submissions.record import SubmissionRecord

__all__ = [
    "BOARD_FLOAT_COLUMNS",
    "BOARD_INT_COLUMNS",
    "BOARD_JSON_COLUMNS",
    "BOARD_TEXT_COLUMNS",
    "TIER_KEYS",
    "board_values",
    "tier_column",
]

# per tier: each metric's mean, the score's interval, the pre-edit values
TIER_KEYS: tuple[str, ...] = (
    *METRICS,
    "score_lo",
    "score_hi",
    *(f"pre_{name}" for name in PRE_EDIT_METRICS),
)
# per result, independent of the tier (name -> maximum length for text)
BOARD_TEXT_COLUMNS: dict[str, int] = {
    "model_type": 20,
    "submitter": 200,
    "submitted_at": 40,
    "model_revision": 100,
    "config_hash": 64,
    "benchmark_version": 40,
    "split_sha256": 64,
    "evaluated": 10,
}
BOARD_INT_COLUMNS: tuple[str, ...] = ("cases", "num_parameters")
BOARD_RESULT_FLOATS: tuple[str, ...] = ("seconds_per_edit_p50", "seconds_per_edit_p95", "wall_s")
BOARD_JSON_COLUMNS: tuple[str, ...] = ("lifelong_curve",)


def tier_column(tier: str, key: str) -> str:
    """The stored column of `key` (a TIER_KEYS entry) for one task tier."""
    return f"{tier}__{key}"


BOARD_FLOAT_COLUMNS: tuple[str, ...] = (
    *BOARD_RESULT_FLOATS,
    *(tier_column(tier, key) for tier in TIERS for key in TIER_KEYS),
)


def _text(value: object, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def _count(value: object) -> int | None:
    """A non-negative integer, else None (a bool is not a count)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def board_values(
    result: Mapping[str, Any], record: SubmissionRecord | Mapping[str, object]
) -> dict[str, Any]:
    """The board's stored values of one result JSON and the request it belongs to (a
    SubmissionRecord or a mapping of its fields). Missing parts become None; never raises on a
    malformed result (the worker stores what the evaluator returned)."""
    result = result if isinstance(result, Mapping) else {}

    def field(name: str) -> object:
        if isinstance(record, Mapping):
            return record.get(name)
        return getattr(record, name, None)

    model = read.section(result, "model")
    editor = read.section(result, "editor")
    bench = read.section(result, "benchmark")
    latency = read.section(result, "efficiency", "edit_latency_s")
    cases = bench.get("cases")
    curve = result.get("lifelong_curve")
    values: dict[str, Any] = {
        "model_type": _text(field("model_type"), 20),
        "submitter": _text(field("submitter"), 200),
        "submitted_at": _text(field("submitted_at"), 40)[:19].replace("T", " "),
        "model_revision": _text(field("revision") or model.get("revision"), 100),
        "config_hash": _text(editor.get("config_hash") or field("config_hash"), 64),
        "benchmark_version": _text(bench.get("version"), 40),
        "split_sha256": _text(bench.get("sha256"), 64),
        "evaluated": _text(result.get("created_at"), 10),
        "cases": cases if isinstance(cases, int) and not isinstance(cases, bool) else None,
        "num_parameters": _count(field("num_parameters")),
        "seconds_per_edit_p50": read.finite(latency.get("p50")),
        "seconds_per_edit_p95": read.finite(latency.get("p95")),
        "wall_s": read.finite(read.section(result, "efficiency").get("wall_s")),
        "lifelong_curve": curve if isinstance(curve, list) and curve else None,
    }
    for tier in TIERS:
        for name in METRICS:
            values[tier_column(tier, name)] = read.metric(result, tier, name).mean
        score = read.score(result, tier)
        values[tier_column(tier, "score")] = score.mean
        values[tier_column(tier, "score_lo")] = score.lo
        values[tier_column(tier, "score_hi")] = score.hi
        for name in PRE_EDIT_METRICS:
            values[tier_column(tier, f"pre_{name}")] = read.pre_edit(result, tier, name)
    return values
