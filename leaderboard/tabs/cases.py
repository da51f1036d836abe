"""The Cases tab (the gallery): pick a task tier, a question type and a public-split case; see
its images, question, options, correct answer, rephrases and locality probes, and what each
gallery run (model · editor · config · setting, on the public split) answered before and after
its edit. Drawn when the tab is opened or a pick changes; hidden-split cases are never shown."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from contract.names import TASKS
from leaderboard.cases import NO_CASES, Gallery, case_choices, case_html, question_types, runs_html

__all__ = ["CasesTab", "build_cases_tab"]

INTRO = (
    "Public-split cases, and what an edit does to a model's answers. The gallery runs are the "
    "baselines run on the **public** split (a few edits of each tier) by the first start; they "
    "are not on the board, whose rows are on the hidden split, whose cases are never shown."
)


@dataclass(eq=False)
class CasesTab:
    tab: gr.Tab
    tier: gr.Radio
    qtype: gr.Dropdown
    case: gr.Dropdown
    card: gr.HTML
    runs: gr.HTML

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.tier, self.qtype, self.case]

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.qtype, self.case, self.card, self.runs]

    def show(
        self, gallery: Gallery, tier: str, qtype: str | None, case_id: str | None
    ) -> list[dict[str, object] | str]:
        """The type and case choices for the picks (a pick that no longer exists falls back
        to the first), the picked case and its gallery runs."""
        cases = gallery.cases()
        if not cases:
            return [
                gr.update(choices=[], value=None),
                gr.update(choices=[], value=None),
                NO_CASES,
                "",
            ]
        tier = tier if tier in TASKS else TASKS[0]
        types = question_types(cases, tier)
        runs = gallery.runs()
        if qtype not in types:  # a fresh tier: the first type with an edited case, if any
            edited = {(p.tier, p.question_type) for r in runs for p in r.cases}
            qtype = next((q for q in types if (tier, q) in edited), types[0] if types else None)
        choices = case_choices(cases, runs, tier, qtype or "")
        ids = [value for _, value in choices]
        case_id = case_id if case_id in ids else (ids[0] if ids else None)
        updates: list[dict[str, object] | str] = [
            gr.update(choices=types, value=qtype),
            gr.update(choices=choices, value=case_id),
        ]
        picked = next((c for c in cases if c.case_id == case_id), None)
        if picked is None:
            return [*updates, "<p>No public case of this tier and type.</p>", ""]
        return [*updates, case_html(picked), runs_html(picked.case_id, runs)]

    def wire(self, gallery: Gallery) -> None:
        """Opening the tab or changing a pick redraws it (a new tier or type picks its first
        case)."""

        def on_open(tier: str, qtype: str | None, case_id: str | None) -> list:
            return self.show(gallery, tier, qtype, case_id)

        def on_tier(tier: str) -> list:
            return self.show(gallery, tier, None, None)

        def on_type(tier: str, qtype: str | None) -> list:
            return self.show(gallery, tier, qtype, None)

        self.tab.select(on_open, self.inputs, self.outputs, api_name=False)
        self.tier.input(on_tier, [self.tier], self.outputs, api_name=False)
        self.qtype.input(on_type, [self.tier, self.qtype], self.outputs, api_name=False)
        self.case.input(on_open, self.inputs, self.outputs, api_name=False)


def build_cases_tab() -> CasesTab:
    with gr.Tab("Cases", id="cases") as tab:
        gr.Markdown(INTRO)
        with gr.Row():
            tier = gr.Radio(list(TASKS), value=TASKS[0], label="Task tier", elem_id="cases-tier")
            qtype = gr.Dropdown([], label="Question type", elem_id="cases-type")
            case = gr.Dropdown([], label="Case", elem_id="cases-case")
        runs = gr.HTML(elem_id="case-runs")
        card = gr.HTML(elem_id="case-card")
    return CasesTab(tab, tier, qtype, case, card, runs)
