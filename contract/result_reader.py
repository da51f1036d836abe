"""Reading a result record (the evaluator's result JSON; its schema is in docs/evaluator.md) on
the read side: the store's board columns (submissions.board) and the board's frame
(leaderboard.table) take every metric, interval and pre-edit value through these functions.
They never raise on a malformed or older result: a missing or non-finite value is None."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.names import HEADLINE_METRICS


@dataclass(frozen=True)
class Stat:
    """A metric's mean and 95% interval ends; None where the result does not say."""

    mean: float | None
    lo: float | None
    hi: float | None

    def text(self) -> str:
        """As a table cell shows it: "mean [lo, hi]" to 3 decimals, the mean alone without an
        interval, "n/a" without a mean."""
        if self.mean is None:
            return "n/a"
        if self.lo is None or self.hi is None:
            return f"{self.mean:.3f}"
        return f"{self.mean:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


def finite(value: object) -> float | None:
    """`value` as a finite float, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def section(value: object, *path: str) -> Mapping[str, Any]:
    """The mapping at `path` inside `value` ({} where any step is missing or not a mapping)."""
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def metric(result: Mapping[str, Any], tier: str, name: str, *, view: str = "metrics") -> Stat:
    """One metric of one task tier; `view` "metrics" (exact match) or "token_metrics"."""
    entry = section(result, view, tier, name)
    ci = entry.get("ci95")
    lo, hi = (
        (finite(ci[0]), finite(ci[1]))
        if isinstance(ci, list | tuple) and len(ci) == 2
        else (None, None)
    )
    return Stat(finite(entry.get("mean")), lo, hi)


def score(result: Mapping[str, Any], tier: str) -> Stat:
    """The headline score of a tier with its own interval; a schema-1 result (no stored score)
    gives the mean of the headline metrics' means and no interval."""
    if "score" in section(result, "metrics", tier):
        return metric(result, tier, "score")
    parts = [metric(result, tier, name).mean for name in HEADLINE_METRICS]
    mean = sum(parts) / len(parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
    return Stat(mean, None, None)


def stat(result: Mapping[str, Any], tier: str, name: str) -> Stat:
    """Any metric of a tier: the headline score through `score` (its schema-1 fallback), the
    others through `metric`."""
    return score(result, tier) if name == "score" else metric(result, tier, name)


def pre_edit(result: Mapping[str, Any], tier: str, name: str) -> float | None:
    """A pre-edit value of a tier (accuracy on the split; reliability, generality on the edits)."""
    return finite(section(result, "pre_edit", tier, name).get("mean"))
