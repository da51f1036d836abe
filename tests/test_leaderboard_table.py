"""The results frame, the leaderboard view, the shared ranking and the column list, on result
JSONs produced by the real evaluator (tests/fixtures/results.py)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from contract.names import METRICS, TIERS
from leaderboard.columns import COLUMNS, default_visible, hideable, label_of
from leaderboard.table import (
    display_frame,
    interval_details,
    leaderboard_view,
    lifelong_curves,
    model_link,
    results_frame,
    shared_ranks,
)


def test_results_frame_has_every_declared_column_and_one_line_per_tier(stored_rows):
    frame = results_frame(stored_rows)
    assert list(frame.columns) == [c.key for c in COLUMNS]
    assert len(frame) == len(stored_rows) * len(TIERS)
    overall = frame[frame["tier"] == "overall"]
    for row, line in zip(stored_rows, overall.itertuples(), strict=True):
        expected = row.result["metrics"]["overall"]["reliability"]
        assert line.reliability == pytest.approx(expected["mean"])
        assert (line.reliability_lo, line.reliability_hi) == pytest.approx(expected["ci95"])
        assert line.split_sha256 == row.result["benchmark"]["sha256"]
        assert line.model_revision == row.result["model"]["revision"]


def test_score_is_the_mean_of_reliability_generality_and_locality(stored_rows):
    frame = results_frame(stored_rows)
    mean = (frame["reliability"] + frame["generality"] + frame["locality"]) / 3
    assert frame["score"].tolist() == pytest.approx(mean.tolist(), nan_ok=True)


def test_view_keeps_one_setting_and_tier_sorted_by_score(stored_rows):
    frame = results_frame(stored_rows)
    for setting in ("single", "lifelong"):
        view = leaderboard_view(frame, setting=setting, tier="overall")
        assert set(view["setting"]) == {setting}
        assert set(view["tier"]) == {"overall"}
        assert len(view) == sum(1 for r in stored_rows if r.setting == setting)
        scores = view["score"].tolist()
        assert scores == sorted(scores, reverse=True)


def test_rank_counts_rows_whose_interval_lies_entirely_above(stored_rows):
    view = leaderboard_view(results_frame(stored_rows), setting="single", tier="overall")
    for i in range(len(view)):
        above = sum(view["score_lo"][j] > view["score_hi"][i] for j in range(len(view)))
        assert view["rank"][i] == 1 + above


def test_overlapping_intervals_share_a_rank_and_separate_ones_do_not():
    ranks = shared_ranks([0.9, 0.85, 0.2], [0.8, 0.7, 0.1], [1.0, 0.95, 0.3])
    assert ranks == [1, 1, 3]


def test_filters_and_search_narrow_the_view(stored_rows):
    frame = results_frame(stored_rows)
    editors = sorted(set(frame["editor"]))
    one = editors[0]
    by_filter = leaderboard_view(frame, setting="single", tier="overall", editors=[one])
    by_search = leaderboard_view(frame, setting="single", tier="overall", search=one.upper())
    assert set(by_filter["editor"]) == {one}
    assert one in set(by_search["editor"])
    nothing = leaderboard_view(frame, setting="single", tier="overall", search="no-such-model-zz")
    assert nothing.empty


def test_display_frame_shows_defaults_and_the_selected_parts(stored_rows):
    view = leaderboard_view(results_frame(stored_rows), setting="single", tier="overall")
    shown = display_frame(view)
    assert label_of("locality_text") not in shown.columns
    assert {label_of(k) for k in default_visible()} <= set(shown.columns)
    with_parts = display_frame(view, [*default_visible(), "locality_text", "locality_image"])
    assert label_of("locality_text") in with_parts.columns
    assert label_of("locality_image") in with_parts.columns
    bare = display_frame(view, [])
    assert list(bare.columns) == [c.label for c in COLUMNS if c.never_hidden]
    assert set(hideable()).isdisjoint({c.key for c in COLUMNS if c.never_hidden})


def test_details_give_each_metric_with_its_interval(stored_rows):
    view = leaderboard_view(results_frame(stored_rows), setting="single", tier="overall")
    text = interval_details(view, 0)
    for metric in METRICS:
        if not math.isnan(view[metric][0]):
            assert f"| {metric} | {view[metric][0]:.4f} | [{view[f'{metric}_lo'][0]:.4f}," in text
    assert view["split_sha256"][0] in text


def test_hub_ids_are_linked_and_local_paths_are_not(tmp_path):
    assert model_link("llava-hf/llava-onevision-qwen2-0.5b-ov-hf") == (
        "[llava-hf/llava-onevision-qwen2-0.5b-ov-hf]"
        "(https://huggingface.co/llava-hf/llava-onevision-qwen2-0.5b-ov-hf)"
    )
    assert model_link(str(tmp_path / "mme-tiny")) == "mme-tiny (local)"


def test_lifelong_curves_follow_the_recorded_checkpoints(stored_rows):
    curves = lifelong_curves(stored_rows)
    lifelong = [r for r in stored_rows if r.setting == "lifelong"]
    assert lifelong, "the fixture must hold lifelong results"
    for row in lifelong:
        points = row.result["lifelong_curve"]
        mine = curves[(curves["model_id"] == row.model_id) & (curves["editor"] == row.editor)]
        reliability = mine[mine["metric"] == "reliability"].sort_values("edits")
        assert reliability["edits"].tolist() == [p["edits"] for p in points]
        assert reliability["value"].tolist() == pytest.approx([p["reliability"] for p in points])


def test_pre_edit_reliability_comes_from_the_results_pre_edit_block(stored_rows):
    frame = results_frame(stored_rows)
    for row, line in zip(stored_rows, frame[frame["tier"] == "overall"].itertuples(), strict=True):
        expected = row.result["pre_edit"]["overall"]["reliability"]["mean"]
        assert line.pre_reliability == pytest.approx(expected)


def test_the_score_interval_is_the_results_own_not_an_average_of_its_parts(stored_rows):
    frame = results_frame(stored_rows)
    for row, line in zip(stored_rows, frame[frame["tier"] == "overall"].itertuples(), strict=True):
        own = row.result["metrics"]["overall"]["score"]
        assert (line.score_lo, line.score_hi) == pytest.approx(own["ci95"])


def test_the_board_shows_the_newest_benchmark_version_and_keeps_older_rows(stored_rows):
    frame = results_frame(stored_rows)
    old = frame.copy()
    old["benchmark_version"] = "1.0.0"
    old["model_id"] = old["model_id"] + "-old"
    both = pd.concat([old, frame], ignore_index=True)
    newest = str(frame["benchmark_version"].iloc[0])
    view = leaderboard_view(both, setting="single", tier="overall")
    assert set(view["benchmark_version"]) == {newest}
    older = leaderboard_view(both, setting="single", tier="overall", version="1.0.0")
    assert set(older["model_id"].str.endswith("-old")) == {True}
