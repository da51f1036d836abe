"""The Gradio app: the tabs (leaderboard.tabs) composed, the page load and the refresh wired;
every computation lives in table, plots, csv_export."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from contract import paths
from contract.checks import EditorCatalog
from contract.gallery import NoCases
from contract.names import SETTINGS
from leaderboard.cache import BoardCache, BoardSource, CachedResults, ResultsCache
from leaderboard.cases import Gallery
from leaderboard.columns import default_visible
from leaderboard.queue_view import queue_frame
from leaderboard.submit_api import (
    FORM_FIELDS,
    CheckedBlocks,
    check_raw_submit_values,
    format_submission_error,
    make_submit_handler,
)
from leaderboard.table import leaderboard_view
from leaderboard.tabs import (
    BoardViews,
    EfficiencyTab,
    LeaderboardTab,
    LifelongTab,
    RowJumps,
    build_about_tab,
    build_cases_tab,
    build_compare_tab,
    build_efficiency_tab,
    build_leaderboard_tab,
    build_lifelong_tab,
    build_long_tail_tab,
    build_queue_tab,
    build_submit_tab,
    wire_about,
)
from leaderboard.tabs.submit import NO_EDITORS
from leaderboard.tabs.views import TABLE_LABEL, TABLE_MAX_ROWS

if TYPE_CHECKING:
    from leaderboard.service import LeaderboardService

__all__ = [
    "FORM_FIELDS",
    "TABLE_LABEL",
    "TABLE_MAX_ROWS",
    "BoardCache",
    "ResultsCache",
    "build_service_ui",
    "build_ui",
    "format_submission_error",
]


def build_service_ui(service: LeaderboardService, **overrides: object) -> gr.Blocks:
    """`build_ui` wired to a `LeaderboardService` (its store, submit and status line) and the
    editors of its checks (none without checks); `overrides` replace any of build_ui's
    arguments."""
    arguments: dict[str, Any] = {
        "load_results": service.results,
        "load_requests": service.requests,
        "results_version": service.results_version,
        "board_source": service,
        "submit": service.submit,
        "catalog": service.checks if service.checks is not None else NO_EDITORS,
        "status": service.status_line,
    }
    arguments.update(overrides)
    return build_ui(**arguments)


def build_ui(
    *,
    load_results: Callable[[], list[Any]],
    load_requests: Callable[[], list[Any]],
    results_version: Callable[[], str] | None = None,
    submit: Callable[[dict[str, Any]], str],
    catalog: EditorCatalog = NO_EDITORS,
    status: Callable[[], str] | None = None,
    manifest_path: Path | None = None,
    refresh_s: float = 5.0,
    board_source: BoardSource | None = None,
    table_rows: int | None = None,
    gallery: Gallery | None = None,
) -> gr.Blocks:
    """Lay out the tabs and wire the callbacks. `submit(form)` returns the success message or
    raises an error carrying `.field`/`.message` (SubmissionError).

    With `board_source` (a LeaderboardService), the board reads narrow stored rows and
    refreshes incrementally (BoardCache); without it, every result from `load_results`
    (ResultsCache). Page load and each refresh first send the table, its CSV and the queue,
    then, as a second step, the plots, so the rows show without waiting for those; the
    all-results CSV is written when asked for. The table shows the first `table_rows`
    (default TABLE_MAX_ROWS) rows by score. `gallery` feeds the Cases and Compare tabs' cases."""
    table_rows = TABLE_MAX_ROWS if table_rows is None else table_rows
    cache = _results_cache(load_results, results_version, board_source)
    views = BoardViews(cache, table_rows)
    gallery = gallery or Gallery.at(NoCases(), paths.gallery_dir())
    run_submit = make_submit_handler(submit)

    with CheckedBlocks(title="MultiMedEdit leaderboard") as app:
        app.checked(run_submit, check_raw_submit_values)
        gr.Markdown(
            "# MultiMedEdit leaderboard\nKnowledge editing of vision-language models on medical "
            "VQA: reliability, generality and locality under single and lifelong editing, "
            "evaluated on a hidden split."
        )
        status_line = gr.Markdown(status() if status else "", elem_id="status-line")
        timer = gr.Timer(refresh_s)
        last_key = gr.State(None)  # the results the table shows
        rest_key = gr.State(None)  # the results the CSVs and plots show
        with gr.Tabs() as tabs:
            board = build_leaderboard_tab()
            efficiency = build_efficiency_tab()
            lifelong = build_lifelong_tab()
            long_tail = build_long_tail_tab()
            compare = build_compare_tab()
            cases = build_cases_tab()
            form = build_submit_tab(catalog)
            queue_table = build_queue_tab(load_requests)
            about_text = build_about_tab(manifest_path)

        board.wire(views)
        efficiency.wire(views)
        lifelong.wire(views)
        long_tail.wire(views)
        compare.wire(views, gallery)
        RowJumps(tabs, board, long_tail, compare).wire(views, gallery)
        cases.wire(gallery)
        board.wire_all_results(views)
        refresh = _Refresh(
            views, load_requests, status, board, efficiency, lifelong, queue_table,
            status_line, last_key, rest_key,
        )  # fmt: skip
        refresh.wire(app, timer)
        form.wire(run_submit, catalog)
        wire_about(app, about_text, manifest_path)

        def leaderboard_api(setting: str = "single", tier: str = "overall") -> list[dict]:
            """The ranked leaderboard of one setting and tier as records."""
            return _api_table(cache, setting, tier)

        gr.api(leaderboard_api, api_name="leaderboard")

        def result_api(request_id: int, setting: str = "single") -> dict:
            """The result JSON of one finished request for one setting (`request_id` as the
            leaderboard's records give it)."""
            return _api_result(cache, request_id, setting)

        gr.api(result_api, api_name="result")
    return app


# a page load's handlers share one check of the store's results version (results arrive
# every few minutes at most; the refresh timer ticks every few seconds)
VERSION_RECHECK_S = 1.0


def _results_cache(
    load_results: Callable[[], list[Any]],
    results_version: Callable[[], str] | None,
    board_source: BoardSource | None,
) -> ResultsCache | BoardCache:
    """BoardCache over `board_source` when given (read once in the background, so the first
    visitor finds it ready; the version checked at most once a VERSION_RECHECK_S), else
    ResultsCache over `load_results`."""
    if board_source is not None:
        cache = BoardCache(board_source, recheck_s=VERSION_RECHECK_S)
        threading.Thread(target=cache.get, name="board-warmup", daemon=True).start()
        return cache
    return ResultsCache(load_results, results_version)


@dataclass(eq=False)
class _Refresh:
    """The two steps of the page load and of each timer tick."""

    views: BoardViews
    load_requests: Callable[[], list[Any]]
    status: Callable[[], str] | None
    board: LeaderboardTab
    efficiency: EfficiencyTab
    lifelong: LifelongTab
    queue_table: gr.Dataframe
    status_line: gr.Markdown
    last_key: gr.State  # the results the table shows
    rest_key: gr.State  # the results the CSVs and plots show

    @property
    def table_outputs(self) -> list[gr.components.Component]:
        return [self.board.table, self.board.types, self.board.editors]

    @property
    def rest_outputs(self) -> list[gr.components.Component]:
        return [
            self.board.filtered_btn,
            self.board.all_btn,
            *self.efficiency.outputs,
            *self.lifelong.outputs,
        ]

    def tick(self, *values: Any) -> list[dict[str, Any] | str]:  # noqa: ANN401 - Gradio inputs, forwarded by position
        """First step of a refresh: the status line always; the table and the filter
        choices only when the stored results changed, so a user's sort and selection
        survive the refresh. (Its CSV, a file of every row of the view that Gradio copies
        into its cache, follows in the second step so that it never holds the rows back.)"""
        *filter_values, seen = values
        key, _, _ = self.views.cache.get()
        live = [self.status() if self.status else "", key]
        if key == seen:
            return [gr.skip()] * len(self.table_outputs) + live
        return [self.views.table_update(*filter_values), *self.views.filter_choices(), *live]

    def tick_rest(
        self,
        *values: Any,  # noqa: ANN401 - Gradio inputs, forwarded by position
    ) -> list[pd.DataFrame | dict[str, Any] | go.Figure | str | None]:
        """Second step: the queue tab always; the table's CSV when the results changed (and
        the all-results CSV prepared for older results is withdrawn); the plots of the
        Efficiency and Lifelong tabs only where they were drawn (their tab opened) and show
        older results: a page load sends no figure, since a figure of thousands of results
        would hold the browser up before anyone looks at it."""
        n_filters = len(self.board.filters)
        filter_values = values[:n_filters]
        eff_s, eff_t, eff_shown, metric, models, editors, life_shown, seen = values[n_filters:]
        key, _, _ = self.views.cache.get()
        queue = queue_frame(self.load_requests())
        views = self.views
        plots = [
            *self.efficiency.redraw(views, eff_s, eff_t, eff_shown, drawn_only=True),
            *self.lifelong.redraw(views, metric, models, editors, life_shown, drawn_only=True),
        ]
        if key == seen:
            return [queue, gr.skip(), gr.skip(), *plots, seen]
        stale = gr.update(visible=False) if seen is not None else gr.skip()
        return [queue, views.filtered_csv_button(*filter_values), stale, *plots, key]

    def wire(self, app: gr.Blocks, timer: gr.Timer) -> None:
        """Page load and each tick first send the table, its CSV and the filter choices,
        then (a second step) the queue, the drawn plots and the all-results CSV's
        withdrawal."""
        table_outputs = [*self.table_outputs, self.status_line, self.last_key]
        rest_inputs = [
            *self.board.filters, *self.efficiency.inputs, *self.lifelong.inputs, self.rest_key,
        ]  # fmt: skip
        rest_outputs = [self.queue_table, *self.rest_outputs, self.rest_key]
        for trigger in (timer.tick, app.load):
            trigger(
                self.tick, [*self.board.filters, self.last_key], table_outputs, api_name=False
            ).then(self.tick_rest, rest_inputs, rest_outputs, api_name=False)


def _api_table(cache: CachedResults, setting: str, tier: str) -> list[dict[str, Any]]:
    """The ranked leaderboard as records (for gradio_client users)."""
    _, frame, _ = cache.get()
    view = leaderboard_view(frame, setting=setting, tier=tier)
    keys = [k for k in default_visible() if k != "model"]
    ids = ["request_id"] if "request_id" in view else []  # for the `result` endpoint
    return json.loads(view[["model_id", *ids, *keys]].to_json(orient="records"))


# request ids are positive and stored as integers on every database
REQUEST_ID_MAX = 2**31 - 1


def _api_result(cache: CachedResults, request_id: object, setting: object) -> dict[str, Any]:
    """One finished request's result JSON for one setting (for gradio_client users). Bad
    input is refused naming the argument; nothing unbounded is echoed."""
    if isinstance(request_id, str) and request_id.strip().isdigit():
        request_id = int(request_id.strip()) if len(request_id) <= 12 else -1
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        raise gr.Error("request_id: give the integer `request_id` of a leaderboard record")
    if not 1 <= request_id <= REQUEST_ID_MAX:
        raise gr.Error(f"request_id: must be between 1 and {REQUEST_ID_MAX}")
    if setting not in SETTINGS:
        raise gr.Error(f"setting: choose one of {list(SETTINGS)}")
    row = cache.result(request_id, str(setting))
    if row is None:
        raise gr.Error(f"no finished result for request {request_id} and setting {setting!r}")
    return dict(row.result)
