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

from leaderboard import about, plots
from leaderboard.columns import SETTINGS, TIERS, default_visible, hideable, label_of
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
    datatypes,
    display_frame,
    interval_details,
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
) -> gr.Blocks:
    """Lay out the tabs and wire the callbacks. `submit(form)` returns the success message or
    raises an error carrying `.field`/`.message` (SubmissionError)."""
    cache = ResultsCache(load_results, results_version)

    def current_view(setting, tier, types, editors, search):
        _, frame, _ = cache.get()
        return leaderboard_view(
            frame, setting=setting, tier=tier, model_types=types, editors=editors, search=search
        )

    def table_update(setting, tier, types, editors, search, columns):
        view = current_view(setting, tier, types, editors, search)
        return gr.update(value=display_frame(view, columns), datatype=datatypes(columns))

    def filtered_csv(setting, tier, types, editors, search, columns):
        view = current_view(setting, tier, types, editors, search)
        return str(write_filtered_csv(view, columns))

    written: dict[str, str] = {}

    def all_csv():
        """The all-results CSV, written once per change of the results."""
        key, frame, _ = cache.get()
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
                return interval_details(view, i)
        return interval_details(view, -1)

    def efficiency(setting, tier):
        _, frame, _ = cache.get()
        view = leaderboard_view(frame, setting=setting, tier=tier)
        return plots.latency_vs_reliability(view), plots.memory_vs_locality(view)

    def lifelong(lines):
        _, _, curves = cache.get()
        chosen = lines if lines else None
        figs = [
            plots.lifelong_figure(curves, m, chosen)
            for m in ("reliability", "generality", "locality")
        ]
        choices = sorted(curves["line"].unique().tolist())
        return [gr.update(choices=choices, value=[c for c in (lines or []) if c in choices]), *figs]

    def filter_choices():
        _, frame, _ = cache.get()
        return (
            gr.update(choices=sorted(set(frame["model_type"]) - {""})),
            gr.update(choices=sorted(set(frame["editor"]) - {""})),
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
        last_key = gr.State(None)
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
                    label="Click a row for its 95% intervals and provenance",
                )
                details = gr.Markdown("Select a row to see its intervals and provenance.")
                with gr.Row():
                    filtered_btn = gr.DownloadButton(
                        "Download this table (CSV)", elem_id="download-filtered"
                    )
                    all_btn = gr.DownloadButton(
                        "Download all results (CSV)", elem_id="download-all"
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

        def everything(*values):
            """Every output that depends on the stored results, from the current inputs."""
            *filter_values, eff_s, eff_t, chosen_lines = values
            return [
                table_update(*filter_values),
                filtered_csv(*filter_values),
                all_csv(),
                *filter_choices(),
                *efficiency(eff_s, eff_t),
                *lifelong(chosen_lines),
            ]

        def tick(*values):
            """Queue and status always; the rest only when the stored results changed, so a
            user's sort, zoom and selection survive the refresh."""
            *inputs, seen = values
            key, _, _ = cache.get()
            live = [queue_frame(load_requests()), status() if status else ""]
            if key == seen:
                return [gr.skip()] * len(result_outputs) + [*live, seen]
            return [*everything(*inputs), *live, key]

        result_inputs = [*filters, eff_setting, eff_tier, lines]
        result_outputs = [
            table,
            filtered_btn,
            all_btn,
            types,
            editors,
            latency_plot,
            memory_plot,
            lines,
            *curve_plots,
        ]
        live_outputs = [queue_table, status_line, last_key]
        timer.tick(
            tick, [*result_inputs, last_key], [*result_outputs, *live_outputs], api_name=False
        )
        app.load(tick, [*result_inputs, last_key], [*result_outputs, *live_outputs], api_name=False)
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
