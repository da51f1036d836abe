"""The Efficiency tab: latency against reliability and memory against locality. The plots are
drawn when the tab is first opened (a page load does not send them) and kept current after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from contract.names import SETTINGS, TIERS
from leaderboard.tabs.views import BoardViews

__all__ = ["EfficiencyTab", "build_efficiency_tab"]


@dataclass(eq=False)
class EfficiencyTab:
    tab: gr.Tab
    setting: gr.Radio
    tier: gr.Radio
    latency_plot: gr.Plot
    memory_plot: gr.Plot
    shown: gr.State  # the results version the plots show (None: not drawn yet)

    @property
    def inputs(self) -> list[Any]:
        return [self.setting, self.tier, self.shown]

    @property
    def outputs(self) -> list[Any]:
        return [self.latency_plot, self.memory_plot, self.shown]

    def wire(self, views: BoardViews) -> None:
        """Opening the tab draws the plots unless they show the current results; they follow
        the setting and the tier."""

        def opened(setting: str, tier: str, shown: str | None) -> list[Any]:
            return self.redraw(views, setting, tier, shown, drawn_only=False)

        def picked(setting: str, tier: str, _shown: str | None) -> list[Any]:
            return self.redraw(views, setting, tier, None, drawn_only=False)

        self.tab.select(opened, self.inputs, self.outputs, api_name=False)
        for component in (self.setting, self.tier):
            component.change(picked, self.inputs, self.outputs, api_name=False)

    @staticmethod
    def redraw(
        views: BoardViews, setting: str, tier: str, shown: str | None, *, drawn_only: bool
    ) -> list[Any]:
        """The plots and the results version they show, or skips where they already show the
        current results (and, with `drawn_only`, where they were never drawn: a refresh keeps
        drawn plots current and leaves the others for the tab's first opening)."""
        key = views.stale_key(shown, drawn_only=drawn_only)
        if key is None:
            return [gr.skip(), gr.skip(), gr.skip()]
        return [*views.efficiency(setting, tier), key]


def build_efficiency_tab() -> EfficiencyTab:
    with gr.Tab("Efficiency", id="efficiency") as tab:
        with gr.Row():
            setting = gr.Radio(list(SETTINGS), value="single", label="Setting")
            tier = gr.Radio(list(TIERS), value="overall", label="Task tier")
        latency_plot = gr.Plot(elem_id="plot-latency")
        memory_plot = gr.Plot(elem_id="plot-memory")
        shown = gr.State(None)
    return EfficiencyTab(tab, setting, tier, latency_plot, memory_plot, shown)
