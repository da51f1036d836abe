"""The Lifelong tab: one metric (score, reliability, generality or locality) along lifelong
runs' edits, on a log axis, the runs picked by model and by editor. The curves are drawn when
the tab is first opened (a page load does not send them) and kept current after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from leaderboard.tabs.views import LIFELONG_METRICS, BoardViews

__all__ = ["LifelongTab", "build_lifelong_tab"]


@dataclass(eq=False)
class LifelongTab:
    tab: gr.Tab
    metric: gr.Radio
    models: gr.Dropdown
    editors: gr.Dropdown
    plot: gr.Plot
    shown: gr.State  # the results version the curves show (None: not drawn yet)

    @property
    def inputs(self) -> list[Any]:
        return [self.metric, self.models, self.editors, self.shown]

    @property
    def outputs(self) -> list[Any]:
        return [self.models, self.editors, self.plot, self.shown]

    def wire(self, views: BoardViews) -> None:
        """Opening the tab draws the curves unless they show the current results; a new
        metric, or picking models or editors, redraws them."""

        def opened(
            metric: str, models: list[str] | None, editors: list[str] | None, shown: str | None
        ) -> list[Any]:
            return self.redraw(views, metric, models, editors, shown, drawn_only=False)

        def picked(
            metric: str, models: list[str] | None, editors: list[str] | None, _shown: str | None
        ) -> list[Any]:
            return self.redraw(views, metric, models, editors, None, drawn_only=False)

        self.tab.select(opened, self.inputs, self.outputs, api_name=False)
        for component in (self.metric, self.models, self.editors):
            component.input(picked, self.inputs, self.outputs, api_name=False)

    @staticmethod
    def redraw(
        views: BoardViews,
        metric: str,
        models: list[str] | None,
        editors: list[str] | None,
        shown: str | None,
        *,
        drawn_only: bool,
    ) -> list[Any]:
        """The model and editor choices, the figure and the results version they show, or
        skips where they already show the current results (and, with `drawn_only`, where they
        were never drawn)."""
        key = views.stale_key(shown, drawn_only=drawn_only)
        if key is None:
            return [gr.skip()] * 4
        return [*views.lifelong(metric, models, editors), key]


def build_lifelong_tab() -> LifelongTab:
    with gr.Tab("Lifelong", id="lifelong") as tab:
        with gr.Row():
            metric = gr.Radio(
                list(LIFELONG_METRICS), value="reliability", label="Metric",
                elem_id="lifelong-metric",
            )  # fmt: skip
            models = gr.Dropdown(
                [], multiselect=True, label="Models (none picked: all)",
                elem_id="lifelong-models",
            )  # fmt: skip
            editors = gr.Dropdown(
                [], multiselect=True, label="Editors (none picked: all)",
                elem_id="lifelong-editors",
            )  # fmt: skip
        plot = gr.Plot(elem_id="plot-lifelong")
        shown = gr.State(None)
    return LifelongTab(tab, metric, models, editors, plot, shown)
