"""Comparing two runs: each headline metric of a tier with its interval, the difference B − A
and whether the intervals overlap, read from the two result records."""

from __future__ import annotations

import copy

from leaderboard.compare import compare_markdown, parse_choice, run_choices
from leaderboard.table import results_frame


def with_metric(result: dict, tier: str, name: str, mean: float, lo: float, hi: float) -> dict:
    result = copy.deepcopy(result)
    result["metrics"][tier][name] = {"mean": mean, "ci95": [lo, hi]}
    return result


def line_of(table: str, metric: str) -> list[str]:
    row = next(r for r in table.splitlines() if r.startswith(f"| {metric} |"))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_the_difference_and_the_overlap_are_read_from_the_results(real_results):
    base = real_results[0]
    a = with_metric(base, "overall", "reliability", 0.40, 0.30, 0.50)
    b = with_metric(base, "overall", "reliability", 0.90, 0.80, 0.95)
    b = with_metric(b, "overall", "locality", 0.45, 0.35, 0.55)
    a = with_metric(a, "overall", "locality", 0.50, 0.40, 0.60)
    table = compare_markdown(a, b, "overall", ("run a", "run b"))
    assert line_of(table, "reliability") == [
        "reliability", "0.400 [0.300, 0.500]", "0.900 [0.800, 0.950]", "+0.500", "no",
    ]  # fmt: skip
    assert line_of(table, "locality")[3:] == ["-0.050", "yes"]
    assert "run a" in table and "run b" in table and "hidden split" in table


def test_runs_are_offered_once_per_request_and_setting(stored_rows):
    frame = results_frame(stored_rows)
    frame["request_id"] = [r.request_id for r in stored_rows for _ in range(3)]
    choices = run_choices(frame)
    assert len(choices) == len(stored_rows)
    values = {parse_choice(value) for _, value in choices}
    assert values == {(r.request_id, r.setting) for r in stored_rows}
    assert parse_choice("x|single") is None and parse_choice(None) is None
