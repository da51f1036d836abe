"""The Efficiency tab: latency against reliability and memory against locality."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from contract.names import SETTINGS, TIERS
from leaderboard.tabs.views import BoardViews

__all__ = ["EfficiencyTab", "build_efficiency_tab"]


@dataclass(eq=False)
class EfficiencyTab:
    setting: gr.Radio
    tier: gr.Radio
    latency_plot: gr.Plot
    memory_plot: gr.Plot

    def wire(self, views: BoardViews) -> None:
        """The plots follow the setting and the tier."""
        for component in (self.setting, self.tier):
            component.change(
                views.efficiency,
                [self.setting, self.tier],
                [self.latency_plot, self.memory_plot],
                api_name=False,
            )


def build_efficiency_tab() -> EfficiencyTab:
    with gr.Tab("Efficiency", id="efficiency"):
        with gr.Row():
            setting = gr.Radio(list(SETTINGS), value="single", label="Setting")
            tier = gr.Radio(list(TIERS), value="overall", label="Task tier")
        latency_plot = gr.Plot(elem_id="plot-latency")
        memory_plot = gr.Plot(elem_id="plot-memory")
    return EfficiencyTab(setting, tier, latency_plot, memory_plot)
