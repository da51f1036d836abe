"""From a selected leaderboard row, one click to each of its other views: "Per-type breakdown"
opens the Long tail tab on the row's model and setting, with the row's own numbers per question
type under the heatmap; "Compare with another row" opens the Compare tab with the row as A and
the top other row of the same setting and tier (the leader; the runner-up for the leader) as B,
which its dropdown changes. The row's reproduce command is in its details already, so a row is
at most three clicks from each of the three (tests/test_browser_three_clicks.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from leaderboard.cases import Gallery
from leaderboard.compare import choice_value, partner_choice
from leaderboard.long_tail import type_breakdown_markdown
from leaderboard.tabs.compare import CompareTab
from leaderboard.tabs.leaderboard_tab import LeaderboardTab
from leaderboard.tabs.long_tail import LongTailTab
from leaderboard.tabs.views import BoardViews

__all__ = ["RowJumps"]

LONG_TAIL_TAB, COMPARE_TAB = "long-tail", "compare"  # the tabs' ids


@dataclass(eq=False)
class RowJumps:
    tabs: gr.Tabs
    board: LeaderboardTab
    long_tail: LongTailTab
    compare: CompareTab

    def to_long_tail(
        self, views: BoardViews, run: dict[str, Any] | None, metric: str
    ) -> list[dict[str, Any] | go.Figure | str | None]:
        """The Long tail tab selected, on the row's model and setting (the heatmap and the
        per-type CSV as the tab draws them) and the row's own per-type table."""
        if not run:
            return [gr.skip()] * 6
        model, figure, csv = views.long_tail(run["model_id"], run["setting"], metric)
        row = views.cache.result(run["request_id"], run["setting"])
        breakdown = type_breakdown_markdown(row.result if row is not None else {}, run["label"])
        return [gr.Tabs(selected=LONG_TAIL_TAB), model, run["setting"], figure, csv, breakdown]

    def to_compare(
        self,
        views: BoardViews,
        gallery: Gallery,
        run: dict[str, Any] | None,
        types: list[str] | None,
        editors: list[str] | None,
        search: str,
        sizes: list[str] | None,
    ) -> list[dict[str, Any] | str]:
        """The Compare tab selected, comparing the row (A) with the top other row of the
        board as filtered, in the row's setting and tier (B), on the row's tier."""
        if not run:
            return [gr.skip()] * 6
        setting, tier = run["setting"], run["tier"]
        view = views.current_view(setting, tier, types, editors, search, sizes)
        a = choice_value(run["request_id"], setting)
        b = partner_choice(view, run["request_id"], setting)
        shown = self.compare.compare(views, gallery, a, b, tier)
        return [gr.Tabs(selected=COMPARE_TAB), tier, *shown]

    def wire(self, views: BoardViews, gallery: Gallery) -> None:
        """The row's two buttons (shown once a row is selected)."""
        board, long_tail, compare = self.board, self.long_tail, self.compare

        def to_long_tail(run: dict[str, Any] | None, metric: str) -> list:
            return self.to_long_tail(views, run, metric)

        def to_compare(run: dict[str, Any] | None, *filters: Any) -> list:  # noqa: ANN401 - Gradio inputs, forwarded by position
            return self.to_compare(views, gallery, run, *filters)

        board.to_long_tail.click(
            to_long_tail,
            [board.picked, long_tail.metric],
            [self.tabs, long_tail.model, long_tail.setting, long_tail.plot, long_tail.csv_btn,
             long_tail.row],
            api_name=False,
        )  # fmt: skip
        board.to_compare.click(
            to_compare,
            [board.picked, board.types, board.editors, board.search, board.sizes],
            [self.tabs, compare.tier, compare.run_a, compare.run_b, compare.table, compare.cases],
            api_name=False,
        )
