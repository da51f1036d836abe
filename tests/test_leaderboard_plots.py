"""Efficiency and lifelong figures drawn from the real leaderboard frame; failures explained."""

from __future__ import annotations

import pandas as pd

from leaderboard import plots
from leaderboard.table import leaderboard_view, lifelong_curves, results_frame


def _dominated(i, x, y):
    return any(
        x[j] <= x[i] and y[j] >= y[i] and (x[j] < x[i] or y[j] > y[i]) for j in range(len(x))
    )


def test_pareto_front_is_exactly_the_undominated_points(stored_rows):
    view = leaderboard_view(results_frame(stored_rows), setting="single", tier="overall")
    x, y = view["seconds_per_edit"].tolist(), view["reliability"].tolist()
    front = plots.pareto_front(x, y)
    undominated = {i for i in range(len(x)) if not _dominated(i, x, y)}
    assert {(x[i], y[i]) for i in front} == {(x[i], y[i]) for i in undominated}
    assert [x[i] for i in front] == sorted(x[i] for i in front)


def test_tradeoff_figures_have_one_trace_per_editor_and_the_front(stored_rows):
    view = leaderboard_view(results_frame(stored_rows), setting="single", tier="overall")
    for draw in (plots.latency_vs_reliability, plots.memory_vs_locality):
        fig = draw(view)
        names = [trace.name for trace in fig.data]
        assert names[-1] == "Pareto front"
        assert sorted(names[:-1]) == sorted(set(view["editor"]))
        assert sum(len(t.x) for t in fig.data[:-1]) == len(view)
        assert fig.layout.template.layout.paper_bgcolor == "white"
        assert "customdata[0]" in fig.data[0].hovertemplate


def test_a_figure_that_cannot_be_drawn_says_why(stored_rows):
    view = leaderboard_view(results_frame(stored_rows), setting="single", tier="overall")
    broken = view.drop(columns=["editor"])
    fig = plots.latency_vs_reliability(broken)
    assert fig.layout.meta == "failure"
    assert "latency_vs_reliability could not be drawn" in fig.layout.annotations[0].text
    assert "editor" in fig.layout.annotations[0].text


def test_no_results_gives_an_explaining_figure_not_an_error():
    empty = leaderboard_view(results_frame([]), setting="single", tier="overall")
    fig = plots.memory_vs_locality(empty)
    assert fig.layout.meta == "failure"
    assert "No results" in fig.layout.annotations[0].text


def test_lifelong_figure_draws_one_line_per_selected_run(stored_rows):
    curves = lifelong_curves(stored_rows)
    lines = sorted(curves["line"].unique())
    fig = plots.lifelong_figure(curves, "locality")
    assert sorted(t.name for t in fig.data) == lines
    only = plots.lifelong_figure(curves, "locality", lines[:1])
    assert [t.name for t in only.data] == lines[:1]
    none = plots.lifelong_figure(pd.DataFrame(columns=curves.columns), "locality")
    assert none.layout.meta == "failure"
