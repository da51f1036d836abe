"""The Lifelong tab: reliability, generality and locality along a lifelong run's edits."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from leaderboard.tabs.views import LIFELONG_METRICS, BoardViews

__all__ = ["LifelongTab", "build_lifelong_tab"]


@dataclass(eq=False)
class LifelongTab:
    lines: gr.Dropdown
    curve_plots: list[gr.Plot]

    def wire(self, views: BoardViews) -> None:
        """Picking runs redraws their curves."""
        self.lines.input(
            views.lifelong, self.lines, [self.lines, *self.curve_plots], api_name=False
        )


def build_lifelong_tab() -> LifelongTab:
    with gr.Tab("Lifelong", id="lifelong"):
        lines = gr.Dropdown(
            [],
            multiselect=True,
            label="Runs to compare (none picked: the first 12)",
            elem_id="lifelong-lines",
        )
        curve_plots = [gr.Plot(elem_id=f"plot-lifelong-{m}") for m in LIFELONG_METRICS]
    return LifelongTab(lines, curve_plots)
