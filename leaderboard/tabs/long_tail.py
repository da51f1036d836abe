"""The Long tail tab: for one model and setting, editors by question type (modality, organ,
finding and each reasoning type), one metric's mean per cell with its interval and n on hover;
a type with too few edits for an interval is a blank cell that says so. The per-type CSV holds
every result's numbers. Drawn when the tab is opened or a choice changes. A leaderboard row's
"Per-type breakdown" button opens it on that row's model and setting, with the row's own numbers
per type under the heatmap (leaderboard.tabs.row_jumps)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from contract.names import SETTINGS
from leaderboard.long_tail import TYPE_METRICS
from leaderboard.tabs.views import BoardViews

__all__ = ["LongTailTab", "build_long_tail_tab"]


@dataclass(eq=False)
class LongTailTab:
    tab: gr.Tab
    model: gr.Dropdown
    setting: gr.Radio
    metric: gr.Radio
    plot: gr.Plot
    csv_btn: gr.DownloadButton
    row: gr.Markdown  # a leaderboard row's own per-type numbers, when opened from the row

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.model, self.setting, self.metric]

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.model, self.plot, self.csv_btn]

    def wire(self, views: BoardViews) -> None:
        """Opening the tab, or a new model, setting or metric, redraws the heatmap."""
        self.tab.select(views.long_tail, self.inputs, self.outputs, api_name=False)
        for component in self.inputs:
            component.input(views.long_tail, self.inputs, self.outputs, api_name=False)


def build_long_tail_tab() -> LongTailTab:
    with gr.Tab("Long tail", id="long-tail") as tab:
        gr.Markdown(
            "Each edited question type on its own: where an editor holds up and where the long "
            "tail of reasoning breaks it. Hover a cell for its 95% interval and the number of "
            "edits; a blank cell has too few edits for an interval."
        )
        with gr.Row():
            model = gr.Dropdown([], label="Model", elem_id="long-tail-model")
            setting = gr.Radio(list(SETTINGS), value=SETTINGS[0], label="Setting")
            metric = gr.Radio(list(TYPE_METRICS), value=TYPE_METRICS[0], label="Metric")
        plot = gr.Plot(elem_id="plot-long-tail")
        row = gr.Markdown(elem_id="long-tail-row")
        csv_btn = gr.DownloadButton("Download the per-type CSV", elem_id="long-tail-csv")
    return LongTailTab(tab, model, setting, metric, plot, csv_btn, row)
