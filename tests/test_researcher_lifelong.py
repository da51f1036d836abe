"""Lifelong curves that read well: a log-scaled edit axis, the score among the metrics, runs
picked by model and editor, and the 95% interval as a band only where the stored curve has
one (the subtitle says when it holds means only)."""

from __future__ import annotations

import pandas as pd

from leaderboard import plots
from leaderboard.table import CURVE_METRICS, lifelong_curves


def _rows(real_results):
    return [
        {"setting": r["setting"], "result": r, "model_id": r["model"]["id"],
         "editor": r["editor"]["name"]}
        for r in real_results
    ]  # fmt: skip


def test_the_stored_curves_hold_means_only_and_the_figure_says_so(real_results):
    curves = lifelong_curves(_rows(real_results))
    assert set(curves["metric"]) == set(CURVE_METRICS)  # score included
    assert curves[["lo", "hi"]].isna().all().all()
    fig = plots.lifelong_figure(curves, "score")
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.meta == "lifelong-means"
    assert "means only" in fig.layout.title.text
    assert not any(t.fill == "toself" for t in fig.data)


def test_runs_are_picked_by_model_and_editor(real_results):
    curves = lifelong_curves(_rows(real_results))
    editor = sorted(curves["editor"].unique())[0]
    fig = plots.lifelong_figure(curves, "reliability", editors=[editor])
    expected = sorted(curves[curves["editor"] == editor]["line"].unique())
    assert sorted(t.name for t in fig.data) == expected
    model = curves["model_id"].iloc[0]
    both = plots.lifelong_figure(curves, "reliability", models=[model], editors=[editor])
    assert {t.name for t in both.data} <= set(expected)
    gone = plots.lifelong_figure(curves, "reliability", models=["no/such-model"])
    assert gone.layout.meta == "failure"


def test_a_curve_with_intervals_is_drawn_with_a_band():
    curve = [
        {"edits": n, "score": {"mean": 0.5, "ci95": [0.4, 0.6]}, "reliability": 0.9}
        for n in (1, 10, 100)
    ]
    rows = [
        {"setting": "lifelong", "model_id": "org/m", "editor": "ft",
         "result": {"benchmark": {"version": "1"}, "editor": {"config_hash": "c" * 64},
                    "lifelong_curve": curve}},
    ]  # fmt: skip
    curves = lifelong_curves(rows)
    fig = plots.lifelong_figure(curves, "score")
    assert fig.layout.meta == "lifelong-band"
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 1 and list(bands[0].y) == [0.6, 0.6, 0.6, 0.4, 0.4, 0.4]
    assert "95% interval" in fig.layout.title.text
    # a metric stored as a bare mean in the same curve: no band
    assert plots.lifelong_figure(curves, "reliability").layout.meta == "lifelong-means"
    assert pd.isna(curves[curves["metric"] == "reliability"]["lo"]).all()
