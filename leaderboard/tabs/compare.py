"""The Compare tab: pick two runs on the board and a task tier; their headline metrics side by
side with the difference and whether the 95% intervals overlap; below, the public-split cases
each run fixed or broke, from the gallery run of the same model, editor, config and setting
(the board's runs are on the hidden split, whose cases are never shown). A leaderboard row's
"Compare" button opens it with that row as A and the top other row as B
(leaderboard.tabs.row_jumps)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from contract.gallery import GalleryRun
from contract.names import TIERS
from leaderboard.cases import Gallery, compare_cases_html
from leaderboard.compare import compare_markdown, parse_choice, run_choices, run_identity
from leaderboard.tabs.views import BoardViews

__all__ = ["CompareTab", "build_compare_tab"]

PICK_TWO = "Pick two runs to compare."


@dataclass(eq=False)
class CompareTab:
    tab: gr.Tab
    run_a: gr.Dropdown
    run_b: gr.Dropdown
    tier: gr.Radio
    table: gr.Markdown
    cases: gr.HTML

    def compare(
        self, views: BoardViews, gallery: Gallery, a: str | None, b: str | None, tier: str
    ) -> list:
        """The runs on the board as choices (the picks kept where they still exist), the
        comparison of the picked two and the cases each fixed or broke."""
        _, frame, _ = views.cache.get()
        choices = run_choices(frame)
        known = {value for _, value in choices}
        labels = dict((value, label) for label, value in choices)
        a, b = (v if v in known else None for v in (a, b))
        updates = [gr.update(choices=choices, value=a), gr.update(choices=choices, value=b)]
        pick_a, pick_b = parse_choice(a), parse_choice(b)
        if a is None or b is None or pick_a is None or pick_b is None:
            return [*updates, PICK_TWO, ""]
        row_a, row_b = views.cache.result(*pick_a), views.cache.result(*pick_b)
        if row_a is None or row_b is None:
            return [*updates, "A picked run has no stored result any more.", ""]
        tier = tier if tier in TIERS else TIERS[0]
        pair = (labels[a], labels[b])
        text = compare_markdown(row_a.result, row_b.result, tier, pair)
        runs = gallery.runs()
        found = (_gallery_run(runs, row_a.result), _gallery_run(runs, row_b.result))
        return [*updates, text, compare_cases_html(pair, found, gallery)]

    def wire(self, views: BoardViews, gallery: Gallery) -> None:
        """Opening the tab refreshes the choices; a new pick or tier redraws the comparison."""
        inputs = [self.run_a, self.run_b, self.tier]
        outputs = [self.run_a, self.run_b, self.table, self.cases]

        def run(a: str | None, b: str | None, tier: str) -> list:
            return self.compare(views, gallery, a, b, tier)

        self.tab.select(run, inputs, outputs, api_name=False)
        for component in inputs:
            component.input(run, inputs, outputs, api_name=False)


def build_compare_tab() -> CompareTab:
    with gr.Tab("Compare", id="compare") as tab:
        with gr.Row():
            run_a = gr.Dropdown([], label="Run A", elem_id="compare-a")
            run_b = gr.Dropdown([], label="Run B", elem_id="compare-b")
            tier = gr.Radio(list(TIERS), value=TIERS[0], label="Task tier")
        table = gr.Markdown(PICK_TWO, elem_id="compare-table")
        cases = gr.HTML(elem_id="compare-cases")
    return CompareTab(tab, run_a, run_b, tier, table, cases)


def _gallery_run(runs: tuple[GalleryRun, ...], result: Mapping[str, Any]) -> GalleryRun | None:
    """The gallery run with the board run's identity (model revision, editor, config hash,
    setting), or None."""
    identity = run_identity(result)
    return next((r for r in runs if r.identity == identity), None)
