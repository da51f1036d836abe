"""What the leaderboard shows of one result, as plain values stored in real columns of the
results table when the result is written, so that the board reads a narrow frame and never
parses result JSON (only a row's detail and the all-results CSV do).

The metric set is the evaluator's (`evaluator.metrics`: TIERS, METRICS, PRE_EDIT_METRICS,
HEADLINE_METRICS); per task tier a metric's mean is stored as `<tier>__<metric>`, with the
score's interval ends and the pre-edit values. A store opened after the metric set changed gets
the new columns and fills them from the stored JSON once (`submissions.schema`).
`leaderboard.table.board_frame` turns the stored values into the board's columns; a test checks
that they equal `leaderboard.table.results_frame` on every shared column."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from contract.names import HEADLINE_METRICS, METRICS, PRE_EDIT_METRICS, TIERS

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
}
BOARD_INT_COLUMNS: tuple[str, ...] = ("cases",)
BOARD_RESULT_FLOATS: tuple[str, ...] = ("seconds_per_edit_p50", "seconds_per_edit_p95")
BOARD_JSON_COLUMNS: tuple[str, ...] = ("lifelong_curve",)


def tier_column(tier: str, key: str) -> str:
    """The stored column of `key` (a TIER_KEYS entry) for one task tier."""
    return f"{tier}__{key}"


BOARD_FLOAT_COLUMNS: tuple[str, ...] = (
    *BOARD_RESULT_FLOATS,
    *(tier_column(tier, key) for tier in TIERS for key in TIER_KEYS),
)


def _number(value: Any) -> float | None:
    """A finite float, else None (SQL NULL; NaN on the way back)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _mean(block: Mapping[str, Any], metric: str) -> float | None:
    return _number(_mapping(block.get(metric)).get("mean"))


def _interval(block: Mapping[str, Any], metric: str) -> tuple[float | None, float | None]:
    ci = _mapping(block.get(metric)).get("ci95")
    if isinstance(ci, list | tuple) and len(ci) == 2:
        return _number(ci[0]), _number(ci[1])
    return None, None


def _text(value: Any, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def board_values(result: Mapping[str, Any], record: Any) -> dict[str, Any]:
    """The board's stored values of one result JSON and the request it belongs to (a
    SubmissionRecord or a mapping of its fields). Missing parts become None; never raises on a
    malformed result (the worker stores what the evaluator returned)."""
    result = _mapping(result)

    def field(name: str) -> Any:
        if isinstance(record, Mapping):
            return record.get(name)
        return getattr(record, name, None)

    model = _mapping(result.get("model"))
    editor = _mapping(result.get("editor"))
    bench = _mapping(result.get("benchmark"))
    efficiency = _mapping(result.get("efficiency"))
    latency = _mapping(efficiency.get("edit_latency_s"))
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
        "cases": cases if isinstance(cases, int) and not isinstance(cases, bool) else None,
        "seconds_per_edit_p50": _number(latency.get("p50")),
        "seconds_per_edit_p95": _number(latency.get("p95")),
        "lifelong_curve": curve if isinstance(curve, list) and curve else None,
    }
    metrics = _mapping(result.get("metrics"))
    pre_edit = _mapping(result.get("pre_edit"))
    for tier in TIERS:
        block = _mapping(metrics.get(tier))
        for metric in METRICS:
            values[tier_column(tier, metric)] = _mean(block, metric)
        lo, hi = _interval(block, "score")
        if "score" not in block:  # schema 1 results: the score without an interval of its own
            parts = [_mean(block, m) for m in HEADLINE_METRICS]
            values[tier_column(tier, "score")] = (
                sum(parts) / len(parts) if all(p is not None for p in parts) else None
            )
        values[tier_column(tier, "score_lo")] = lo
        values[tier_column(tier, "score_hi")] = hi
        pre = _mapping(pre_edit.get(tier))
        for name in PRE_EDIT_METRICS:
            values[tier_column(tier, f"pre_{name}")] = _mean(pre, name)
    return values
