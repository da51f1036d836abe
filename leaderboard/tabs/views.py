"""The callbacks several tabs share (and the refresh calls): the table, its CSV, the filter
choices and the plots of the current results, each computed once per change of the results."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from leaderboard import plots
from leaderboard.cache import CachedResults
from leaderboard.csv_export import write_by_type_csv, write_filtered_csv
from leaderboard.long_tail import TYPE_METRICS
from leaderboard.table import CURVE_METRICS, datatypes, display_frame, leaderboard_view, short_name

__all__ = ["LIFELONG_METRICS", "TABLE_LABEL", "TABLE_MAX_ROWS", "BoardViews"]

# the leaderboard tab shows the first rows by score (the browser renders a table of thousands
# of rows slowly); search and filters narrow it, the filtered CSV holds every row
TABLE_MAX_ROWS = 200  # measured: 1,000 rows took the warm tab past 1 s (docs/deploy.md)
TABLE_LABEL = "Click a row for its 95% intervals and provenance"
LIFELONG_METRICS = CURVE_METRICS  # the Lifelong tab's metric choice

_Computed = TypeVar("_Computed")


@dataclass(eq=False)
class BoardViews:
    """Views, CSVs and figures of the results in `cache`; the table shows the first
    `table_rows` rows by score. Hashed by identity (eq=False), so that its bound methods, the
    event handlers, can be dict keys."""

    cache: CachedResults
    table_rows: int = TABLE_MAX_ROWS
    _computed: dict[tuple, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def memo(self, key: tuple, make: Callable[[], _Computed]) -> _Computed:
        """What is computed for `key` (the results version first, then the inputs) is computed
        once per change of the results, not on every page load or refresh."""
        with self._lock:
            if key in self._computed:
                return self._computed[key]
        value = make()
        with self._lock:
            if any(k[0] != key[0] for k in self._computed) or len(self._computed) > 64:
                self._computed.clear()
            self._computed[key] = value
        return value

    def stale_key(self, shown: str | None, *, drawn_only: bool) -> str | None:
        """The current results version when a tab's plots showing `shown` must be (re)drawn,
        else None: they already show it, or (with `drawn_only`, a refresh) they were never
        drawn and wait for their tab's first opening."""
        key = self.cache.get()[0]
        if shown == key or (drawn_only and shown is None):
            return None
        return key

    def current_view(
        self,
        setting: str,
        tier: str,
        types: list[str] | None,
        editors: list[str] | None,
        search: str,
        sizes: list[str] | None = None,
    ) -> pd.DataFrame:
        key, frame, _ = self.cache.get()
        inputs = (
            setting, tier, tuple(types or ()), tuple(editors or ()), search or "",
            tuple(sizes or ()),
        )  # fmt: skip
        return self.memo(
            (key, "view", *inputs),
            lambda: leaderboard_view(
                frame, setting=setting, tier=tier, model_types=types, editors=editors,
                search=search, sizes=sizes,
            ),
        )  # fmt: skip

    def table_update(
        self,
        setting: str,
        tier: str,
        types: list[str] | None,
        editors: list[str] | None,
        search: str,
        columns: list[str] | None,
        sizes: list[str] | None = None,
    ) -> dict[str, Any]:
        view = self.current_view(setting, tier, types, editors, search, sizes)
        shown = view.head(self.table_rows)
        label = TABLE_LABEL
        if len(view) > len(shown):
            label = (
                f"Top {len(shown):,} of {len(view):,} rows by score (search or filter to "
                f"narrow; the CSV holds every row) · {TABLE_LABEL.lower()}"
            )
        return gr.update(
            value=display_frame(shown, columns), datatype=datatypes(columns), label=label
        )

    def filtered_csv(
        self,
        setting: str,
        tier: str,
        types: list[str] | None,
        editors: list[str] | None,
        search: str,
        columns: list[str] | None,
        sizes: list[str] | None = None,
    ) -> str:
        key, _, _ = self.cache.get()
        inputs = (
            setting, tier, tuple(types or ()), tuple(editors or ()), search or "",
            tuple(sizes or ()),
        )  # fmt: skip

        def write() -> str:
            view = self.current_view(setting, tier, types, editors, search, sizes)
            return str(write_filtered_csv(view, columns))

        path = self.memo((key, "csv", *inputs, tuple(columns or ())), write)
        return path if Path(path).exists() else write()  # pruned meanwhile: write it again

    def filtered_csv_button(self, *filters: str | list[str] | None) -> dict[str, Any]:
        """The table's download button holding the CSV of the view and enabled (it starts
        disabled, so that nobody clicks it before its file exists)."""
        return gr.update(value=self.filtered_csv(*filters), interactive=True)

    def filter_choices(self) -> tuple[dict[str, Any], dict[str, Any]]:
        _, frame, _ = self.cache.get()
        return (
            gr.update(choices=sorted(v for v in frame["model_type"].unique() if v)),
            gr.update(choices=sorted(v for v in frame["editor"].unique() if v)),
        )

    def efficiency(self, setting: str, tier: str) -> tuple[go.Figure, go.Figure]:
        key, frame, _ = self.cache.get()

        def draw() -> tuple[go.Figure, go.Figure]:
            view = leaderboard_view(frame, setting=setting, tier=tier)
            return plots.latency_vs_reliability(view), plots.memory_vs_locality(view)

        return self.memo((key, "efficiency", setting, tier), draw)

    def lifelong(
        self, metric: str, models: list[str] | None, editors: list[str] | None
    ) -> list[dict[str, Any] | go.Figure]:
        """The model and editor choices of the current curves (the picks kept where they
        still exist) and the figure of `metric` for the picked runs."""
        key, _, _ = self.cache.get()
        metric = metric if metric in LIFELONG_METRICS else LIFELONG_METRICS[0]

        def draw() -> tuple[list[tuple[str, str]], list[str], go.Figure]:
            curves = self.cache.curves()
            fig = plots.lifelong_figure(curves, metric, models=models, editors=editors)
            model_ids = sorted(curves["model_id"].unique().tolist())
            return (
                [(short_name(m), m) for m in model_ids],
                sorted(curves["editor"].unique().tolist()),
                fig,
            )

        inputs = (metric, tuple(models or ()), tuple(editors or ()))
        model_choices, editor_choices, fig = self.memo((key, "lifelong", *inputs), draw)
        known_models = {m for _, m in model_choices}
        return [
            gr.update(
                choices=model_choices, value=[m for m in (models or []) if m in known_models]
            ),
            gr.update(
                choices=editor_choices, value=[e for e in (editors or []) if e in editor_choices]
            ),
            fig,
        ]

    def long_tail(
        self, model: str | None, setting: str, metric: str
    ) -> list[dict[str, Any] | go.Figure | str | None]:
        """The models with per-type results (the pick kept where it still exists, else the
        first), the heatmap of editors by question type for the picked model and setting, and
        the per-type CSV of every result."""
        key, _, _ = self.cache.get()
        frame = self.cache.by_type()
        models = sorted(frame["model"].unique().tolist()) if len(frame) else []
        model = model if model in models else (models[0] if models else None)
        metric = metric if metric in TYPE_METRICS else TYPE_METRICS[0]
        if model is None:
            figure = plots.failure_figure(
                "no result with per-question-type metrics yet (result schema 3 carries them)"
            )
        else:
            figure = self.memo(
                (key, "long_tail", model, setting, metric),
                lambda: plots.type_heatmap(frame, model=model, setting=setting, metric=metric),
            )
        path = self.memo((key, "by_type_csv"), lambda: str(write_by_type_csv(frame)))
        if not Path(path).exists():  # pruned meanwhile: write it again
            path = str(write_by_type_csv(frame))
        return [gr.update(choices=models, value=model), figure, path]
