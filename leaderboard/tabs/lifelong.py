"""The Lifelong tab: one metric (score, reliability, generality or locality) along lifelong
runs' edits, on a log axis, the runs picked by model and by editor."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from leaderboard.tabs.views import LIFELONG_METRICS, BoardViews

__all__ = ["LifelongTab", "build_lifelong_tab"]


@dataclass(eq=False)
class LifelongTab:
    metric: gr.Radio
    models: gr.Dropdown
    editors: gr.Dropdown
    plot: gr.Plot

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.metric, self.models, self.editors]

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.models, self.editors, self.plot]

    def wire(self, views: BoardViews) -> None:
        """A new metric, or picking models or editors, redraws the curves."""
        for component in self.inputs:
            component.input(views.lifelong, self.inputs, self.outputs, api_name=False)


def build_lifelong_tab() -> LifelongTab:
    with gr.Tab("Lifelong", id="lifelong"):
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
    return LifelongTab(metric, models, editors, plot)
