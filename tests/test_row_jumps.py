"""What a leaderboard row's two buttons compute (leaderboard.tabs.row_jumps): the run it is
first compared with (the top other row of the ranked view) and its own per-question-type
table, where a type with too few edits for an interval says so instead of a number. The clicks
themselves are tested in chromium (tests/test_browser_three_clicks.py)."""

from __future__ import annotations

import pandas as pd

from leaderboard.compare import choice_value, parse_choice, partner_choice, run_choices, run_label
from leaderboard.long_tail import type_breakdown_markdown


def ranked(*runs: tuple[int, str]) -> pd.DataFrame:
    """A ranked view's identifying columns, best first."""
    return pd.DataFrame(
        {
            "request_id": [r for r, _ in runs],
            "setting": [s for _, s in runs],
            "model_id": ["org/model"] * len(runs),
            "editor": [f"editor{r}" for r, _ in runs],
            "config_short": ["abcd1234"] * len(runs),
        }
    )


def test_a_row_is_first_compared_with_the_leader_or_the_runner_up():
    view = ranked((3, "single"), (1, "single"), (2, "single"))
    assert partner_choice(view, 1, "single") == choice_value(3, "single")
    assert partner_choice(view, 2, "single") == choice_value(3, "single")
    assert partner_choice(view, 3, "single") == choice_value(1, "single")  # the leader
    assert parse_choice(partner_choice(view, 1, "single")) == (3, "single")
    assert partner_choice(ranked((3, "single")), 3, "single") is None  # no other run
    assert partner_choice(view.head(0), 3, "single") is None
    assert partner_choice(view.drop(columns="request_id"), 3, "single") is None


def test_the_rows_label_is_the_label_of_its_choice_in_the_compare_tab():
    view = ranked((3, "single"), (1, "lifelong"))
    labels = dict((value, label) for label, value in run_choices(view))
    assert labels[choice_value(1, "lifelong")] == run_label(
        "org/model", "editor1", "abcd1234", "lifelong"
    )


def type_entry(tier: str, n: int, mean: float, ci: list[float] | None) -> dict:
    stat = {"mean": mean, "ci95": ci}
    entry = {name: stat for name in ("score", "reliability", "generality", "locality")}
    return {**entry, "tier": tier, "n": n, "too_few_edits": ci is None}


def cells(table: str, first: str) -> list[str]:
    row = next(r for r in table.splitlines() if r.startswith(f"| {first} |"))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_the_breakdown_gives_each_type_its_interval_or_says_too_few_edits():
    result = {
        "metrics_by_type": {
            "count_frames": type_entry("reasoning", 12, 0.5, [0.25, 0.75]),
            "organ": type_entry("understanding", 3, 0.9, None),
            "odd|type\nname": type_entry("reasoning", 2, 0.1, None),
        }
    }
    table = type_breakdown_markdown(result, "model · ike · abcd1234 · single")
    assert table.startswith("**Per question type**: model · ike · abcd1234 · single")
    interval = "0.500 [0.250, 0.750]"
    assert cells(table, "count_frames") == ["count_frames", "reasoning", "12", *[interval] * 4]
    few = cells(table, "organ")
    assert few == ["organ", "understanding", "3", *["too few edits"] * 4]
    assert "0.900" not in table  # no number where there is no interval
    body = [line for line in table.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in body[1:]] == [
        "| organ",
        "| count_frames",
        "| odd/type name",
    ]
    assert all(line.count("|") == body[0].count("|") for line in body)


def test_a_result_without_per_type_metrics_says_so():
    for result in ({}, {"metrics_by_type": None}, {"metrics_by_type": {}}):
        text = type_breakdown_markdown(result, "a run")
        assert "records no per-question-type metrics" in text and "|" not in text
