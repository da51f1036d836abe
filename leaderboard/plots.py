"""Figures as pure functions of the leaderboard frame (plotly, template plotly_white). A figure
that cannot be drawn becomes a figure that says why, so one bad row never breaks the page."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import ParamSpec

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from leaderboard.columns import label_of

TEMPLATE = "plotly_white"
P = ParamSpec("P")


def failure_figure(message: str) -> go.Figure:
    """An empty figure whose only content is the reason it is empty."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font_size=16
    )
    fig.update_layout(
        template=TEMPLATE, xaxis_visible=False, yaxis_visible=False, height=420, meta="failure"
    )
    return fig


def explain_failure(draw: Callable[P, go.Figure]) -> Callable[P, go.Figure]:
    """Decorator: an exception while drawing becomes a figure naming the plot and the error."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> go.Figure:
        try:
            return draw(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - the page must survive any bad row
            return failure_figure(
                f"{draw.__name__} could not be drawn: {type(err).__name__}: {err}"
            )

    return wrapper


def pareto_front(x: list[float], y: list[float]) -> list[int]:
    """Indices of the points no other point beats (lower or equal x and higher or equal y,
    strictly better in one), ordered by x."""
    points = sorted(
        (i for i in range(len(x)) if not (math.isnan(x[i]) or math.isnan(y[i]))),
        key=lambda i: (x[i], -y[i]),
    )
    front, best_y = [], -math.inf
    for i in points:
        if y[i] > best_y:
            front.append(i)
            best_y = y[i]
    return front


def _tradeoff(frame: pd.DataFrame, x: str, y: str, title: str, log_x: bool) -> go.Figure:
    data = frame.dropna(subset=[x, y])
    if data.empty:
        return failure_figure(f"No results with both {label_of(x)} and {label_of(y)} yet.")
    fig = go.Figure()
    for editor, group in data.groupby("editor", sort=True):
        fig.add_trace(
            go.Scatter(
                x=group[x],
                y=group[y],
                mode="markers",
                name=str(editor),
                marker={"size": 12, "line": {"width": 1, "color": "white"}},
                customdata=group[["model_id", "editor", "config_short", "model_type"]].to_numpy(),
                hovertemplate=(
                    "<b>%{customdata[0]}</b><br>editor %{customdata[1]} · config %{customdata[2]}"
                    f"<br>type %{{customdata[3]}}<br>{label_of(x)} %{{x:.4g}}"
                    f"<br>{label_of(y)} %{{y:.4f}}<extra></extra>"
                ),
            )
        )
    front = pareto_front(data[x].astype(float).tolist(), data[y].astype(float).tolist())
    fig.add_trace(
        go.Scatter(
            x=data[x].iloc[front],
            y=data[y].iloc[front],
            mode="lines",
            name="Pareto front",
            line={"dash": "dash", "color": "#444", "shape": "hv"},
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        xaxis_title=label_of(x),
        yaxis_title=label_of(y),
        font_size=14,
        height=480,
        legend_title="editor",
    )
    if log_x and (data[x] > 0).all():
        fig.update_xaxes(type="log")
    return fig


@explain_failure
def latency_vs_reliability(frame: pd.DataFrame) -> go.Figure:
    """Seconds per edit (x, lower is better) against reliability (y), Pareto front drawn."""
    return _tradeoff(frame, "seconds_per_edit", "reliability", "Speed vs reliability", True)


@explain_failure
def memory_vs_locality(frame: pd.DataFrame) -> go.Figure:
    """Peak memory (x, lower is better) against locality (y), Pareto front drawn."""
    return _tradeoff(frame, "peak_memory_mb", "locality", "Memory vs locality", False)


MAX_DEFAULT_LINES = 12


def _pick_lines(
    data: pd.DataFrame,
    lines: list[str] | None,
    models: list[str] | None,
    editors: list[str] | None,
) -> tuple[pd.DataFrame, str]:
    """The runs picked (by line, model and editor; none picked: all), at most
    MAX_DEFAULT_LINES of them unless picked by line; and a note when some were left out."""
    if lines:
        data = data[data["line"].isin(lines)]
    if models:
        data = data[data["model_id"].isin(models)]
    if editors:
        data = data[data["editor"].isin(editors)]
    names = sorted(data["line"].unique())
    if not lines and len(names) > MAX_DEFAULT_LINES:
        data = data[data["line"].isin(names[:MAX_DEFAULT_LINES])]
        return data, f"first {MAX_DEFAULT_LINES} of {len(names)} runs; pick models or editors"
    return data, ""


def _band(fig: go.Figure, group: pd.DataFrame, name: str, color: str) -> None:
    """The 95% interval of one run's curve as a filled band (drawn under its line)."""
    fig.add_trace(
        go.Scatter(
            x=[*group["edits"], *group["edits"][::-1]],
            y=[*group["hi"], *group["lo"][::-1]],
            fill="toself",
            fillcolor=color,
            opacity=0.2,
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
            legendgroup=name,
            name=f"{name} 95% interval",
        )
    )


@explain_failure
def lifelong_figure(
    curves: pd.DataFrame,
    metric: str,
    lines: list[str] | None = None,
    *,
    models: list[str] | None = None,
    editors: list[str] | None = None,
) -> go.Figure:
    """One metric against the number of edits (log axis), one line per (model, editor,
    config), with its 95% interval as a band where the stored curve has one (the subtitle says
    when it has means only); runs picked by line, model and editor (none: the first
    MAX_DEFAULT_LINES lines by name, since a browser cannot draw thousands)."""
    data, note = _pick_lines(curves[curves["metric"] == metric], lines, models, editors)
    if data.empty:
        return failure_figure(f"No lifelong {metric} curve to show yet.")
    has_band = "lo" in data and bool(data[["lo", "hi"]].notna().all(axis=1).any())
    palette = qualitative.Plotly
    fig = go.Figure()
    for i, (line, group) in enumerate(data.groupby("line", sort=True)):
        group = group.sort_values("edits")
        color = palette[i % len(palette)]
        banded = group.dropna(subset=["lo", "hi"]) if has_band else group.iloc[:0]
        if len(banded):
            _band(fig, banded, str(line), color)
        fig.add_trace(
            go.Scatter(
                x=group["edits"], y=group["value"], mode="lines+markers", name=str(line),
                legendgroup=str(line), line={"color": color},
                hovertemplate=f"{line}<br>%{{x}} edits<br>{metric} %{{y:.4f}}<extra></extra>",
            )
        )  # fmt: skip
    subtitle = (
        "shaded: 95% interval"
        if has_band
        else "means only: the stored curve has no intervals, so no band is drawn"
    )
    subtitle += f" · {note}" if note else ""
    positive = bool((pd.to_numeric(data["edits"], errors="coerce") > 0).all())
    fig.update_layout(
        template=TEMPLATE,
        title={"text": f"Lifelong {metric}<br><sup>{subtitle}</sup>"},
        xaxis_title="number of edits" + (" (log scale)" if positive else ""),
        yaxis_title=metric,
        yaxis_range=[-0.02, 1.02],
        font_size=14,
        height=460,
        meta="lifelong-band" if has_band else "lifelong-means",
    )
    if positive:
        fig.update_xaxes(type="log")
    return fig


def _type_cell(line: pd.Series | None, metric: str) -> tuple[float | None, str]:
    """One heatmap cell: the metric mean (None: blank) and its hover text."""
    if line is None:
        return None, "no edits of this type"
    n = line["n"]
    if bool(line["too_few_edits"]):
        return None, f"too few edits (n = {n}): mean {line[metric]:.3f}, no interval"
    lo, hi = line[f"{metric}_lo"], line[f"{metric}_hi"]
    return float(line[metric]), f"{line[metric]:.3f} (95% CI {lo:.3f} to {hi:.3f}), n = {n}"


@explain_failure
def type_heatmap(
    by_type_frame: pd.DataFrame, *, model: str, setting: str, metric: str
) -> go.Figure:
    """Editors x question types for one model and setting (the newest benchmark version),
    cells the metric's mean over that type's edits (`leaderboard.long_tail.by_type_frame`);
    hover gives the interval and n. A type with too few edits for an interval is a blank
    cell whose hover says "too few edits"."""
    from leaderboard.long_tail import type_order
    from leaderboard.table import benchmark_versions

    frame = by_type_frame[(by_type_frame["model"] == model) & (by_type_frame["setting"] == setting)]
    if frame.empty:
        return failure_figure(f"no per-type results for {model} ({setting})")
    frame = frame[frame["benchmark_version"] == benchmark_versions(frame)[0]]
    # an editor with several configs gets a row per config
    several = frame["editor"].map(frame.groupby("editor")["config_short"].nunique()) > 1
    with_config = frame["editor"] + " · " + frame["config_short"]
    frame = frame.assign(row=frame["editor"].where(~several, with_config))
    pairs = set(zip(frame["type"], frame["tier"], strict=True))
    types = sorted(pairs, key=lambda t: type_order(*t))
    columns = [t for t, _ in types]
    editors = sorted(frame["row"].unique())
    cells = {(r["row"], r["type"]): r for _, r in frame.iterrows()}
    z, text = [], []
    for editor in editors:
        pairs = [_type_cell(cells.get((editor, t)), metric) for t in columns]
        z.append([v for v, _ in pairs])
        text.append([f"{editor} · {t}: {h}" for t, (_, h) in zip(columns, pairs, strict=True)])
    fig = go.Figure(
        go.Heatmap(
            z=z, x=columns, y=editors, text=text, hovertemplate="%{text}<extra></extra>",
            hoverongaps=True, zmin=0.0, zmax=1.0, colorscale="Viridis", colorbar_title=metric,
        )
    )  # fmt: skip
    fig.update_layout(
        template=TEMPLATE,
        title=f"{metric} by question type: {model} ({setting}); blank: too few edits",
        xaxis_title="question type",
        yaxis_title="editor",
        height=max(320, 60 + 40 * len(editors)),
    )
    # categorical axes keep their labels even where every cell is blank
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=columns)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=editors)
    if all(v is None for line in z for v in line):
        fig.add_annotation(
            text="every question type here has too few edits for an interval (hover: n)",
            x=0.5, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False,
        )  # fmt: skip
    return fig
