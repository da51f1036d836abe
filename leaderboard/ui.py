"""The Gradio layout and its callbacks; every computation lives in table, plots, csv_export."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import yaml

from contract.names import SETTINGS, TIERS
from leaderboard import about, plots
from leaderboard.columns import default_visible, hideable, label_of
from leaderboard.csv_export import write_all_results_csv, write_filtered_csv
from leaderboard.queue_view import queue_frame
from leaderboard.submit_api import (
    FORM_FIELDS,
    CheckedBlocks,
    check_raw_submit_values,
    format_submission_error,
    make_submit_handler,
)
from leaderboard.table import (
    board_curves,
    board_frame,
    board_wide,
    datatypes,
    detail_frame,
    display_frame,
    interval_details,
    is_board_frame,
    leaderboard_view,
    lifelong_curves,
    results_frame,
)

__all__ = ["FORM_FIELDS", "FORM_HELP", "build_service_ui", "build_ui", "format_submission_error"]

FORM_HELP = {
    "model_id": "A Hugging Face hub id (org/name) pinned to a commit, or a model served from the "
    "models root; image-text-to-text, safetensors weights, no remote code.",
    "revision": "Commit, tag or branch; it is resolved and pinned to a commit (empty: main).",
    "model_type": "general: a general-purpose VLM; medical: adapted to medicine.",
    "editor": "A registered knowledge editor; choosing one fills its config with the defaults.",
    "editor_config": "YAML (or JSON): field: value. Missing fields take the defaults below.",
    "settings": "single: each case edited alone, model restored; lifelong: edits accumulate.",
    "submitter": "Your name or handle, shown on the leaderboard.",
    "organisation": "Counts towards the per-organisation quota.",
    "contact": "An email, a URL or a handle, to reach you about this run (not shown).",
    "description": "Optional: what is special about this run.",
    "link": "Optional: paper or code, http(s).",
}


# the leaderboard tab shows the first rows by score (the browser renders a table of thousands
# of rows slowly); search and filters narrow it, the filtered CSV holds every row
TABLE_MAX_ROWS = 1000
TABLE_LABEL = "Click a row for its 95% intervals and provenance"


class ResultsCache:
    """Builds the results frame once per change of the stored results (not once per click).
    `version()`, when given, is a cheap token that changes whenever the results change; it
    spares reading every result on each refresh."""

    def __init__(
        self, load_rows: Callable[[], list[Any]], version: Callable[[], str] | None = None
    ) -> None:
        self._load_rows = load_rows
        self._version = version
        self._lock = threading.Lock()
        self._key: str | None = None
        self._frame = results_frame([])
        self._curves = lifelong_curves([])

    def get(self) -> tuple[str, pd.DataFrame, pd.DataFrame]:
        with self._lock:
            token = self._version() if self._version else None
            if token is not None and token == self._key:
                return self._key, self._frame, self._curves
            rows = self._load_rows()
            key = token if token is not None else _fingerprint(rows)
            if key != self._key:
                self._frame = results_frame(rows)
                self._curves = lifelong_curves(rows)
                self._key = key
            return key, self._frame, self._curves

    def curves(self) -> pd.DataFrame:
        """The lifelong curves of the current results."""
        return self.get()[2]

    def full_frame(self) -> tuple[str, pd.DataFrame]:
        """The frame with every column (here the same frame)."""
        key, frame, _ = self.get()
        return key, frame

    def result(self, request_id: int, setting: str) -> Any:
        return None  # rows of this cache carry every column already


class BoardCache:
    """The board's frame kept up to date incrementally from a source with the
    LeaderboardService read methods: when `results_version()` changes, only the results that
    became visible since the last refresh are read, as narrow rows (`board(ids)`: stored
    columns, no JSON parsed), and appended. The lifelong curves (`curves()`) and the full frame
    (every column: the all-results CSV) are brought up to date the same way, only when asked
    for; a row's detail reads its one result. `get()[2]` holds the curves as of the last
    `curves()` call."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._full_lock = threading.Lock()
        self._key: str | None = None
        self._ids: set[int] = set()
        self._wide: pd.DataFrame | None = None
        self._frame = board_frame(board_wide(*_empty_board(source)))
        self._curves = board_curves(pd.DataFrame(), {})
        self._curve_lock = threading.Lock()
        self._curve_key: str | None = None
        self._curve_map: dict[int, Any] = {}
        self._curve_ids: set[int] = set()
        self._full_key: str | None = None
        self._full_ids: set[int] = set()
        self._full = results_frame([])

    def get(self) -> tuple[str, pd.DataFrame, pd.DataFrame]:
        with self._lock:
            token = self._source.results_version()
            if token == self._key:
                return self._key, self._frame, self._curves
            visible = set(self._source.visible_result_ids())
            new = visible - self._ids
            gone = self._ids - visible
            wide = self._wide
            if new:
                board = self._source.board(None if wide is None else sorted(new))
                added = board_wide(board.columns, board.rows)
                wide = added if wide is None else pd.concat([wide, added], ignore_index=True)
            if wide is not None and gone:
                wide = wide[~wide["result_id"].isin(gone)]
            if wide is not None and (new or gone):
                wide = wide.sort_values(["created_at", "result_id"], kind="stable")
                wide = wide.reset_index(drop=True)
                self._wide = wide
                self._ids = set(wide["result_id"].tolist())
                self._frame = board_frame(wide)
            self._key = token
            return self._key, self._frame, self._curves

    def curves(self) -> pd.DataFrame:
        """The lifelong curves of the visible results, reading only the curves of results
        that became visible since the last call."""
        key, _, _ = self.get()
        with self._curve_lock:
            if key == self._curve_key:
                return self._curves
            with self._lock:
                ids, wide = set(self._ids), self._wide
            new = ids - self._curve_ids
            if new:
                first = not self._curve_ids
                self._curve_map.update(self._source.board_curves(None if first else sorted(new)))
            for gone in set(self._curve_map) - ids:
                del self._curve_map[gone]
            self._curve_ids = ids
            frame = wide if wide is not None else pd.DataFrame()
            self._curves = board_curves(frame, self._curve_map)
            self._curve_key = key
            return self._curves

    def full_frame(self) -> tuple[str, pd.DataFrame]:
        """Every column of every visible result (`results_frame`), parsing only the results
        that became visible since the last call."""
        key, _, _ = self.get()
        with self._full_lock:
            if key == self._full_key:
                return key, self._full
            with self._lock:
                ids = set(self._ids)
            new, gone = ids - self._full_ids, self._full_ids - ids
            full = self._full
            if gone:
                full = full[~full["_result_id"].isin(gone)]
            if new:
                rows = self._source.results(sorted(new))
                added = results_frame(rows)
                added["_result_id"] = _result_ids_of(rows, self._wide)
                full = pd.concat([full, added], ignore_index=True) if len(full) else added
            self._full, self._full_ids, self._full_key = full, ids, key
            return key, full

    def result(self, request_id: int, setting: str) -> Any:
        return self._source.result(request_id, setting)


def _empty_board(source: Any) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The board's column names, from an empty board_rows answer."""
    board = source.board([])
    return board.columns, []


def _result_ids_of(rows: list[Any], wide: pd.DataFrame | None) -> list[int]:
    """For each line of results_frame(rows) (3 per row: one per tier), its result id."""
    from contract.names import TIERS

    if wide is None or not len(wide):
        return [-1] * (len(rows) * len(TIERS))
    by_key = dict(
        zip(zip(wide["request_id"], wide["setting"], strict=True), wide["result_id"], strict=True)
    )
    ids = [int(by_key.get((row.request_id, row.setting), -1)) for row in rows]
    return [i for i in ids for _ in TIERS]


def _fingerprint(rows: list[Any]) -> str:
    digest = hashlib.sha1(str(len(rows)).encode())
    for row in rows:
        result = row.get("result") if isinstance(row, Mapping) else getattr(row, "result", None)
        setting = row.get("setting") if isinstance(row, Mapping) else getattr(row, "setting", "")
        created = (result or {}).get("created_at", "")
        digest.update(f"{setting}|{created}|{id(result) if not created else ''}".encode())
    return digest.hexdigest()


def editor_defaults_yaml(editor: str) -> str:
    """The editor's config fields with their defaults, as YAML for the form."""
    from evaluator.editors.registry import get_editor

    fields = get_editor(editor).config_class.describe()
    return yaml.safe_dump(
        {f["name"]: _plain(f["default"]) for f in fields}, sort_keys=False, allow_unicode=True
    )


def editor_help_markdown(editor: str) -> str:
    """One line per config field: name, type, default, allowed range and help."""
    from evaluator.editors.registry import get_editor

    lines = [f"**{editor}** config fields:", ""]
    for f in get_editor(editor).config_class.describe():
        allowed = f", range `{f['range']}`" if "range" in f else ""
        lines.append(
            f"- `{f['name']}` ({f['type']}, default `{_plain(f['default'])}`{allowed}): {f['help']}"
        )
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def build_service_ui(service: Any, **overrides: Any) -> gr.Blocks:
    """`build_ui` wired to a `LeaderboardService` (its store, submit and status line) and the
    editor registry; `overrides` replace any of build_ui's arguments."""
    from evaluator.editors.registry import editor_names

    arguments: dict[str, Any] = {
        "load_results": service.results,
        "load_requests": service.requests,
        "results_version": service.results_version,
        "board_source": service,
        "submit": service.submit,
        "editor_names": editor_names,
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
    editor_names: Callable[[], list[str]],
    status: Callable[[], str] | None = None,
    manifest_path: Path | None = None,
    refresh_s: float = 5.0,
    board_source: Any | None = None,
    table_rows: int | None = None,
) -> gr.Blocks:
    """Lay out the tabs and wire the callbacks. `submit(form)` returns the success message or
    raises an error carrying `.field`/`.message` (SubmissionError).

    With `board_source` (a LeaderboardService), the board reads narrow stored rows and
    refreshes incrementally (BoardCache); without it, every result from `load_results`
    (ResultsCache). Page load and each refresh first send the table, its CSV and the queue,
    then, as a second step, the plots, so the rows show without waiting for those; the
    all-results CSV is written when asked for. The table shows the first `table_rows`
    (default TABLE_MAX_ROWS) rows by score."""
    table_rows = TABLE_MAX_ROWS if table_rows is None else table_rows
    if board_source is not None:
        cache: ResultsCache | BoardCache = BoardCache(board_source)
        # read the board once in the background, so the first visitor finds it ready
        threading.Thread(target=cache.get, name="board-warmup", daemon=True).start()
    else:
        cache = ResultsCache(load_results, results_version)

    computed: dict[tuple, Any] = {}  # views, CSVs and figures of the current results
    computed_lock = threading.Lock()

    def memo(key: tuple, make: Callable[[], Any]) -> Any:
        """What is computed for `key` (the results version first, then the inputs) is computed
        once per change of the results, not on every page load or refresh."""
        with computed_lock:
            if key in computed:
                return computed[key]
        value = make()
        with computed_lock:
            if any(k[0] != key[0] for k in computed) or len(computed) > 64:
                computed.clear()
            computed[key] = value
        return value

    def current_view(setting, tier, types, editors, search):
        key, frame, _ = cache.get()
        inputs = (setting, tier, tuple(types or ()), tuple(editors or ()), search or "")
        return memo(
            (key, "view", *inputs),
            lambda: leaderboard_view(
                frame, setting=setting, tier=tier, model_types=types, editors=editors,
                search=search,
            ),
        )  # fmt: skip

    def table_update(setting, tier, types, editors, search, columns):
        view = current_view(setting, tier, types, editors, search)
        shown = view.head(table_rows)
        label = TABLE_LABEL
        if len(view) > len(shown):
            label = (
                f"Top {len(shown):,} of {len(view):,} rows by score (search or filter to "
                f"narrow; the CSV holds every row) · {TABLE_LABEL.lower()}"
            )
        return gr.update(
            value=display_frame(shown, columns), datatype=datatypes(columns), label=label
        )

    def filtered_csv(setting, tier, types, editors, search, columns):
        key, _, _ = cache.get()
        inputs = (setting, tier, tuple(types or ()), tuple(editors or ()), search or "")

        def write() -> str:
            view = current_view(setting, tier, types, editors, search)
            return str(write_filtered_csv(view, columns))

        path = memo((key, "csv", *inputs, tuple(columns or ())), write)
        return path if Path(path).exists() else write()  # pruned meanwhile: write it again

    written: dict[str, str] = {}

    def all_csv():
        """The all-results CSV, written once per change of the results (from the full frame,
        whose results are parsed once each)."""
        key, frame = cache.full_frame()
        if key not in written:
            written.clear()
            written[key] = str(write_all_results_csv(frame))
        return written[key]

    def detail(setting, tier, types, editors, search, columns, evt: gr.SelectData):
        """Intervals and provenance of the clicked row, found by its identifying cells (the
        browser may have re-sorted the table, so the row index alone is not enough)."""
        view = current_view(setting, tier, types, editors, search)
        headers = list(display_frame(view.head(0), columns).columns)
        cells = dict(zip(headers, evt.row_value or [], strict=False))
        keys = ("model", "editor", "config_short")
        shown = display_frame(view, columns)
        for i in range(len(view)):
            if all(str(cells.get(label_of(k))) == str(shown[label_of(k)].iloc[i]) for k in keys):
                if not is_board_frame(view):
                    return interval_details(view, i)
                line = view.iloc[i]  # a narrow line: read its one full result
                full = cache.result(int(line["request_id"]), str(line["setting"]))
                if full is not None:
                    return interval_details(detail_frame(full, str(line["tier"])), 0)
        return interval_details(view, -1)

    def efficiency(setting, tier):
        key, frame, _ = cache.get()

        def draw():
            view = leaderboard_view(frame, setting=setting, tier=tier)
            return plots.latency_vs_reliability(view), plots.memory_vs_locality(view)

        return memo((key, "efficiency", setting, tier), draw)

    def lifelong(lines):
        key, _, _ = cache.get()

        def draw():
            curves = cache.curves()
            chosen = lines if lines else None
            figs = [
                plots.lifelong_figure(curves, m, chosen)
                for m in ("reliability", "generality", "locality")
            ]
            return sorted(curves["line"].unique().tolist()), figs

        choices, figs = memo((key, "lifelong", tuple(lines or ())), draw)
        return [gr.update(choices=choices, value=[c for c in (lines or []) if c in choices]), *figs]

    def filter_choices():
        _, frame, _ = cache.get()
        return (
            gr.update(choices=sorted(v for v in frame["model_type"].unique() if v)),
            gr.update(choices=sorted(v for v in frame["editor"].unique() if v)),
        )

    run_submit = make_submit_handler(submit)

    def pick_editor(editor):
        if editor not in editor_names():
            return "", f"Unknown editor {editor!r}; choose one of {editor_names()}."
        return editor_defaults_yaml(editor), editor_help_markdown(editor)

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
        with gr.Tabs():
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
                details = gr.Markdown("Select a row to see its intervals and provenance.")
                with gr.Row():
                    filtered_btn = gr.DownloadButton(
                        "Download this table (CSV)", elem_id="download-filtered"
                    )
                    # every result's JSON is read for this file: written when asked for
                    all_prepare = gr.Button(
                        "Prepare all results (CSV)", elem_id="prepare-all", variant="secondary"
                    )
                    all_btn = gr.DownloadButton(
                        "Download all results (CSV)", elem_id="download-all", visible=False
                    )
            with gr.Tab("Efficiency", id="efficiency"):
                with gr.Row():
                    eff_setting = gr.Radio(list(SETTINGS), value="single", label="Setting")
                    eff_tier = gr.Radio(list(TIERS), value="overall", label="Task tier")
                latency_plot = gr.Plot(elem_id="plot-latency")
                memory_plot = gr.Plot(elem_id="plot-memory")
            with gr.Tab("Lifelong", id="lifelong"):
                lines = gr.Dropdown(
                    [],
                    multiselect=True,
                    label="Runs to compare (none picked: the first 12)",
                    elem_id="lifelong-lines",
                )
                curve_plots = [
                    gr.Plot(elem_id=f"plot-lifelong-{m}")
                    for m in ("reliability", "generality", "locality")
                ]
            with gr.Tab("Submit", id="submit"):
                names = editor_names()
                with gr.Row():
                    with gr.Column(scale=3):
                        model_id = gr.Textbox(
                            elem_id="form-model_id", label="Model", info=FORM_HELP["model_id"]
                        )
                        revision = gr.Textbox(
                            elem_id="form-revision", label="Revision", info=FORM_HELP["revision"]
                        )
                        model_type = gr.Radio(
                            ["general", "medical"],
                            value="general",
                            label="Model type",
                            info=FORM_HELP["model_type"],
                        )
                        editor = gr.Dropdown(
                            names,
                            value=names[0] if names else None,
                            label="Editor",
                            info=FORM_HELP["editor"],
                            allow_custom_value=True,
                        )
                        editor_config = gr.Code(
                            value=editor_defaults_yaml(names[0]) if names else "",
                            language="yaml",
                            label="Editor config (YAML)",
                            interactive=True,
                        )
                        editor_help = gr.Markdown(editor_help_markdown(names[0]) if names else "")
                        settings_box = gr.CheckboxGroup(
                            list(SETTINGS),
                            value=list(SETTINGS),
                            label="Settings",
                            info=FORM_HELP["settings"],
                        )
                    with gr.Column(scale=2):
                        submitter = gr.Textbox(
                            elem_id="form-submitter", label="Submitter", info=FORM_HELP["submitter"]
                        )
                        organisation = gr.Textbox(
                            elem_id="form-organisation",
                            label="Organisation",
                            info=FORM_HELP["organisation"],
                        )
                        contact = gr.Textbox(
                            elem_id="form-contact", label="Contact", info=FORM_HELP["contact"]
                        )
                        description = gr.Textbox(
                            elem_id="form-description",
                            label="Description",
                            lines=3,
                            info=FORM_HELP["description"],
                        )
                        link = gr.Textbox(elem_id="form-link", label="Link", info=FORM_HELP["link"])
                        submit_btn = gr.Button("Submit", variant="primary", elem_id="submit-button")
                        submit_msg = gr.Markdown(elem_id="submit-message")
            with gr.Tab("Queue", id="queue"):
                queue_table = gr.Dataframe(
                    value=queue_frame(load_requests()),
                    interactive=False,
                    elem_id="queue-table",
                    max_height=640,
                    wrap=True,
                )
            with gr.Tab("About", id="about"):
                about_text = gr.Markdown(about.about_markdown(manifest_path))

        filters = [setting, tier, types, editors, search, columns]
        for component in (setting, tier, types, editors, columns):
            component.change(table_update, filters, table, api_name=False)
            component.change(filtered_csv, filters, filtered_btn, api_name=False)
        search.submit(table_update, filters, table, api_name=False)
        search.change(table_update, filters, table, api_name=False, trigger_mode="always_last")
        search.change(
            filtered_csv, filters, filtered_btn, api_name=False, trigger_mode="always_last"
        )
        table.select(detail, filters, details, api_name=False)
        for component in (eff_setting, eff_tier):
            component.change(
                efficiency, [eff_setting, eff_tier], [latency_plot, memory_plot], api_name=False
            )
        lines.input(lifelong, lines, [lines, *curve_plots], api_name=False)

        def tick(*values):
            """First step of a refresh: the status line always; the table, its CSV and the
            filter choices only when the stored results changed, so a user's sort and
            selection survive the refresh."""
            *filter_values, seen = values
            key, _, _ = cache.get()
            live = [status() if status else "", key]
            if key == seen:
                return [gr.skip()] * len(table_outputs) + live
            return [
                table_update(*filter_values),
                filtered_csv(*filter_values),
                *filter_choices(),
                *live,
            ]

        def tick_rest(*values):
            """Second step: the queue tab always; the plots when the results changed (and
            the all-results CSV prepared for older results is withdrawn)."""
            eff_s, eff_t, chosen_lines, seen = values
            key, _, _ = cache.get()
            queue = queue_frame(load_requests())
            if key == seen:
                return [queue, *[gr.skip()] * len(rest_outputs), seen]
            stale = gr.update(visible=False) if seen is not None else gr.skip()
            return [queue, stale, *efficiency(eff_s, eff_t), *lifelong(chosen_lines), key]

        all_prepare.click(
            lambda: gr.update(value=all_csv(), visible=True), None, all_btn, api_name=False
        )

        table_outputs = [table, filtered_btn, types, editors]
        live_outputs = [status_line, last_key]
        rest_inputs = [eff_setting, eff_tier, lines, rest_key]
        rest_outputs = [
            all_btn,
            latency_plot,
            memory_plot,
            lines,
            *curve_plots,
        ]
        for trigger in (timer.tick, app.load):
            trigger(
                tick,
                [*filters, last_key],
                [*table_outputs, *live_outputs],
                api_name=False,
            ).then(tick_rest, rest_inputs, [queue_table, *rest_outputs, rest_key], api_name=False)
        editor.change(pick_editor, editor, [editor_config, editor_help], api_name=False)
        submit_btn.click(
            run_submit,
            [
                model_id,
                revision,
                model_type,
                editor,
                editor_config,
                settings_box,
                submitter,
                organisation,
                contact,
                description,
                link,
            ],
            submit_msg,
            api_name="submit",
        )

        app.load(lambda: about.about_markdown(manifest_path), None, about_text, api_name=False)

        def leaderboard_api(setting: str = "single", tier: str = "overall") -> list[dict]:
            """The ranked leaderboard of one setting and tier as records."""
            return _api_table(cache, setting, tier)

        gr.api(leaderboard_api, api_name="leaderboard")
    return app


def _api_table(cache: ResultsCache, setting: str, tier: str) -> list[dict[str, Any]]:
    """The ranked leaderboard as records (for gradio_client users)."""
    _, frame, _ = cache.get()
    view = leaderboard_view(frame, setting=setting, tier=tier)
    keys = [k for k in default_visible() if k != "model"]
    return json.loads(view[["model_id", *keys]].to_json(orient="records"))
