"""The Leaderboard tab: filters, the ranked table, a row's details (with buttons to its
per-type breakdown and to a comparison, leaderboard.tabs.row_jumps) and the CSV downloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import pandas as pd

from contract.names import SETTINGS, TIERS
from leaderboard.columns import default_visible, hideable, label_of
from leaderboard.compare import run_label
from leaderboard.csv_export import write_all_results_csv, write_result_json
from leaderboard.table import (
    SIZE_CHOICES,
    datatypes,
    detail_frame,
    display_frame,
    interval_details,
    is_board_frame,
    leaderboard_view,
    results_frame,
)
from leaderboard.tabs.views import TABLE_LABEL, BoardViews

__all__ = ["LeaderboardTab", "build_leaderboard_tab"]


@dataclass(eq=False)
class LeaderboardTab:
    setting: gr.Radio
    tier: gr.Radio
    search: gr.Textbox
    types: gr.CheckboxGroup
    editors: gr.CheckboxGroup
    columns: gr.CheckboxGroup
    sizes: gr.CheckboxGroup
    table: gr.Dataframe
    details: gr.Markdown
    result_btn: gr.DownloadButton
    filtered_btn: gr.DownloadButton
    all_prepare: gr.Button
    all_btn: gr.DownloadButton
    picked: gr.State  # the selected row's run (picked_run), None before a selection
    to_long_tail: gr.Button
    to_compare: gr.Button

    @property
    def filters(self) -> list[gr.components.Component]:
        """The inputs of the table, its CSV and a row's details, in their callbacks' order."""
        return [
            self.setting, self.tier, self.types, self.editors, self.search, self.columns,
            self.sizes,
        ]  # fmt: skip

    def wire(self, views: BoardViews) -> None:
        """The table and its CSV follow the filters; a click on a row shows its details."""
        filters = self.filters
        changing = (self.setting, self.tier, self.types, self.editors, self.columns, self.sizes)
        for component in changing:
            component.change(views.table_update, filters, self.table, api_name=False)
            component.change(views.filtered_csv_button, filters, self.filtered_btn, api_name=False)
        search = self.search
        search.submit(views.table_update, filters, self.table, api_name=False)
        search.change(
            views.table_update, filters, self.table, api_name=False, trigger_mode="always_last"
        )
        search.change(
            views.filtered_csv_button, filters, self.filtered_btn, api_name=False,
            trigger_mode="always_last",
        )  # fmt: skip
        outputs = [self.details, self.result_btn, self.picked, self.to_long_tail, self.to_compare]
        self.table.select(RowDetail(views).detail, filters, outputs, api_name=False)

    def wire_all_results(self, views: BoardViews) -> None:
        """Prepare all results: writes the all-results CSV and shows its download button."""
        all_csv = AllResultsCsv(views).path
        self.all_prepare.click(
            lambda: gr.update(value=all_csv(), visible=True), None, self.all_btn, api_name=False
        )


def build_leaderboard_tab() -> LeaderboardTab:
    with gr.Tab("Leaderboard", id="leaderboard"):
        with gr.Row():
            setting = gr.Radio(list(SETTINGS), value="single", label="Setting")
            tier = gr.Radio(list(TIERS), value="overall", label="Task tier")
            search = gr.Textbox(
                label="Search (applies to the table and its CSV)",
                placeholder="model, editor, type, submitter",
                elem_id="lb-search",
            )
        with gr.Row():
            types = gr.CheckboxGroup([], label="Model type (none ticked: all)")
            editors = gr.CheckboxGroup([], label="Editor (none ticked: all)")
            sizes = gr.CheckboxGroup(
                list(SIZE_CHOICES),
                label="Model size, parameters (none ticked: all)",
                elem_id="lb-sizes",
            )
        with gr.Accordion("Columns (text/image parts, provenance)", open=False):
            columns = gr.CheckboxGroup(
                [(label_of(k), k) for k in hideable()],
                value=[k for k in default_visible() if k in hideable()],
                label="Columns",
            )
        table = gr.Dataframe(
            value=display_frame(
                leaderboard_view(results_frame([]), setting="single", tier="overall")
            ),
            datatype=datatypes(None),
            interactive=False,
            pinned_columns=2,
            show_search="none",
            max_height=640,
            elem_id="leaderboard-table",
            label=TABLE_LABEL,
        )
        with gr.Row():
            to_long_tail = gr.Button(
                "Per-type breakdown (Long tail) →", elem_id="row-long-tail", visible=False
            )
            to_compare = gr.Button(
                "Compare with another row →", elem_id="row-compare", visible=False
            )
            result_btn = gr.DownloadButton(
                "Download this row's result (JSON)", elem_id="download-result", visible=False
            )
        details = gr.Markdown(
            "Select a row to see its intervals, provenance and how to reproduce it.",
            elem_id="row-details",
        )
        picked = gr.State(None)  # inside the tab: a gr.Tabs may hold only gr.Tab children
        with gr.Row():
            filtered_btn = gr.DownloadButton(
                "Download this table (CSV)", elem_id="download-filtered", interactive=False
            )
            # every result's JSON is read for this file: written when asked for
            all_prepare = gr.Button(
                "Prepare all results (CSV)", elem_id="prepare-all", variant="secondary"
            )
            all_btn = gr.DownloadButton(
                "Download all results (CSV)", elem_id="download-all", visible=False
            )
    return LeaderboardTab(
        setting, tier, search, types, editors, columns, sizes, table, details, result_btn,
        filtered_btn, all_prepare, all_btn, picked, to_long_tail, to_compare,
    )  # fmt: skip


@dataclass(eq=False)
class RowDetail:
    views: BoardViews

    def detail(
        self,
        setting: str,
        tier: str,
        types: list[str] | None,
        editors: list[str] | None,
        search: str,
        columns: list[str] | None,
        sizes: list[str] | None,
        evt: gr.SelectData,
    ) -> tuple[str, dict[str, Any], dict[str, Any] | None, dict[str, Any], dict[str, Any]]:
        """Intervals, provenance and the reproduction recipe of the clicked row, its result JSON
        to download, the row's run (for the per-type and compare buttons) and those buttons,
        shown. The row is found by its identifying cells (the browser may have re-sorted the
        table, so the row index alone is not enough)."""
        view = self.views.current_view(setting, tier, types, editors, search, sizes)
        headers = list(display_frame(view.head(0), columns).columns)
        cells = dict(zip(headers, evt.row_value or [], strict=False))
        keys = ("model", "editor", "config_short")
        shown = display_frame(view, columns)
        hidden = gr.update(visible=False)
        for i in range(len(view)):
            if all(str(cells.get(label_of(k))) == str(shown[label_of(k)].iloc[i]) for k in keys):
                if not is_board_frame(view):
                    return interval_details(view, i), hidden, None, hidden, hidden
                line = view.iloc[i]  # a narrow line: read its one full result
                full = self.views.cache.result(int(line["request_id"]), str(line["setting"]))
                if full is not None:
                    text = interval_details(detail_frame(full, str(line["tier"])), 0)
                    stem = f"result-{int(line['request_id'])}-{line['setting']}"
                    path = write_result_json(dict(full.result), stem)
                    shown_btn = gr.update(visible=True)
                    download = gr.update(value=str(path), visible=True)
                    return text, download, picked_run(line), shown_btn, shown_btn
        return interval_details(view, -1), hidden, None, hidden, hidden


def picked_run(line: pd.Series) -> dict[str, Any]:
    """A selected board line's run, as the row's buttons need it: request id, setting, tier,
    model id and its label in the Compare tab's choices."""
    label = run_label(line["model_id"], line["editor"], line["config_short"], line["setting"])
    return {
        "request_id": int(line["request_id"]),
        "setting": str(line["setting"]),
        "tier": str(line["tier"]),
        "model_id": str(line["model_id"]),
        "label": label,
    }


@dataclass(eq=False)
class AllResultsCsv:
    views: BoardViews
    _written: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def path(self) -> str:
        """The all-results CSV, written once per change of the results (from the full frame,
        whose results are parsed once each)."""
        key, frame = self.views.cache.full_frame()
        if key not in self._written:
            self._written.clear()
            self._written[key] = str(write_all_results_csv(frame))
        return self._written[key]
