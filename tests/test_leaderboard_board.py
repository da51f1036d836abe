"""The narrow read path: the board's frame built from the values the store keeps in real
columns beside each result equals the frame built from the full result JSON on every column
the board uses (on SQLite and on PostgreSQL), and the app's cache refreshes incrementally:
only results that became visible are read, and full JSON only for a detail or the
all-results CSV."""

from __future__ import annotations

import pandas as pd
import pytest

from contract.names import SETTINGS, TIERS
from leaderboard.service import LeaderboardService
from leaderboard.table import (
    BOARD_COLUMNS,
    board_curves,
    board_frame,
    board_wide,
    detail_frame,
    interval_details,
    leaderboard_view,
    lifelong_curves,
    results_frame,
)
from leaderboard.ui import BoardCache
from submissions import Store
from tests.app_support import store_results


def _frames(store: Store) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    board = store.board_rows()
    wide = board_wide(board.columns, board.rows)
    return board_frame(wide), results_frame(store.results()), wide


def test_the_board_frame_equals_the_full_frame_on_the_boards_columns(real_results, store_url):
    store = Store(store_url)
    store_results(store, real_results, num_parameters=1_500_000_000)
    narrow, full, wide = _frames(store)
    assert len(narrow) == len(full) == len(real_results) * len(TIERS)
    # the model's size, the result's date and its wall time are board columns
    assert {"params", "num_parameters", "evaluated", "wall_s"} <= set(BOARD_COLUMNS)
    assert set(narrow["params"]) == {"1.5B"}
    assert narrow["evaluated"].str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    assert narrow["wall_s"].notna().all()
    for setting in SETTINGS:
        for tier in TIERS:
            a = leaderboard_view(narrow, setting=setting, tier=tier)[list(BOARD_COLUMNS)]
            b = leaderboard_view(full, setting=setting, tier=tier)[list(BOARD_COLUMNS)]
            assert len(a) > 0
            pd.testing.assert_frame_equal(a, b, check_dtype=False)
    expected_curves = lifelong_curves(store.results())
    assert len(expected_curves) > 0
    pd.testing.assert_frame_equal(board_curves(wide, store.board_curves()), expected_curves)
    store.close()


def test_a_board_rows_detail_comes_from_its_one_full_result(real_results, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store_results(store, real_results)
    narrow, full, _ = _frames(store)
    view = leaderboard_view(narrow, setting="lifelong", tier="reasoning")
    line = view.iloc[0]
    detail = detail_frame(store.get_result(int(line["request_id"]), "lifelong"), "reasoning")
    full_view = leaderboard_view(full, setting="lifelong", tier="reasoning")
    assert interval_details(detail, 0) == interval_details(full_view, 0)
    store.close()


class CountingService(LeaderboardService):
    """The app's service, noting which result ids each read asked for."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.board_calls: list[list[int] | None] = []
        self.full_calls: list[list[int] | None] = []
        self.version_calls = 0

    def results_version(self) -> str:
        self.version_calls += 1
        return super().results_version()

    def board(self, result_ids=None):
        self.board_calls.append(None if result_ids is None else list(result_ids))
        return super().board(result_ids)

    def results(self, result_ids=None):
        self.full_calls.append(None if result_ids is None else list(result_ids))
        return super().results(result_ids)


def test_the_cache_reads_only_what_became_visible(real_results, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    first, rest = real_results[:2], real_results[2:]
    store_results(store, first)
    service = CountingService(store)
    cache = BoardCache(service)
    key, frame, _ = cache.get()
    assert len(frame) == len(first) * len(TIERS)
    assert cache.get()[0] == key  # nothing new: one version query, no rows read
    before = list(service.board_calls)
    store_results(store, rest)
    key2, frame2, _ = cache.get()
    new_calls = service.board_calls[len(before) :]
    assert key2 != key and len(new_calls) == 1
    assert len(new_calls[0]) == len(rest)  # only the new results' narrow rows
    assert len(frame2) == len(real_results) * len(TIERS)
    pd.testing.assert_frame_equal(cache.curves(), lifelong_curves(store.results()))
    _, full = cache.full_frame()
    assert len(full) == len(frame2)
    assert service.full_calls == [sorted(store.visible_result_ids())]
    store_results(store, [], model_id="unused")  # no change: the full frame is reused
    assert cache.full_frame()[1] is full
    narrow, expected, _ = _frames(store)
    pd.testing.assert_frame_equal(
        leaderboard_view(frame2, setting="single", tier="overall")[list(BOARD_COLUMNS)],
        leaderboard_view(expected, setting="single", tier="overall")[list(BOARD_COLUMNS)],
        check_dtype=False,
    )
    store.close()


def test_the_cache_asks_for_the_version_at_most_once_per_recheck_window(real_results, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store_results(store, real_results[:1])
    service = CountingService(store)
    now = [100.0]
    cache = BoardCache(service, recheck_s=1.0, clock=lambda: now[0])
    key, frame, _ = cache.get()
    for _ in range(5):  # the handlers of one page load
        assert cache.get()[0] == key
    assert service.version_calls == 1
    store_results(store, real_results[1:])
    now[0] += 0.5  # within the window: what the page already showed
    assert len(cache.get()[1]) == len(frame)
    now[0] += 0.6  # past it: the new results are read
    assert cache.get()[0] != key and service.version_calls == 2
    assert len(cache.get()[1]) == len(real_results) * len(TIERS)
    store.close()


@pytest.mark.parametrize("rows", [0, 1])
def test_an_empty_or_tiny_board_has_the_boards_columns(rows, real_results, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store_results(store, real_results[:rows])
    narrow, _, _ = _frames(store)
    assert list(narrow.columns)[: len(BOARD_COLUMNS)] == list(BOARD_COLUMNS)
    assert len(narrow) == rows * len(TIERS)
    store.close()


def test_plots_are_drawn_when_their_tab_opens_and_kept_current_after(real_results, tmp_path):
    """A page load's second step sends no figure (tick_rest calls redraw with drawn_only);
    opening the tab draws; a refresh redraws drawn plots only when the results changed."""
    import gradio as gr

    from leaderboard.tabs import BoardViews
    from leaderboard.tabs.efficiency import EfficiencyTab
    from leaderboard.tabs.lifelong import LifelongTab

    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store_results(store, real_results[:2])
    views = BoardViews(BoardCache(LeaderboardService(store)))
    key = views.cache.get()[0]

    def skipped(outputs: list) -> bool:
        return all(o == gr.skip() for o in outputs)

    never_drawn = EfficiencyTab.redraw(views, "single", "overall", None, drawn_only=True)
    assert skipped(never_drawn)
    assert skipped(LifelongTab.redraw(views, "score", None, None, None, drawn_only=True))
    *figures, shown = EfficiencyTab.redraw(views, "single", "overall", None, drawn_only=False)
    assert shown == key and all(f is not None and f != gr.skip() for f in figures)
    *curves, life_shown = LifelongTab.redraw(views, "score", None, None, None, drawn_only=False)
    assert life_shown == key and curves[-1] is not None and curves[-1] != gr.skip()
    assert skipped(EfficiencyTab.redraw(views, "single", "overall", key, drawn_only=True))
    assert skipped(EfficiencyTab.redraw(views, "single", "overall", key, drawn_only=False))
    store_results(store, real_results[2:])
    new_key = views.cache.get()[0]
    assert new_key != key
    *_, shown = EfficiencyTab.redraw(views, "single", "overall", key, drawn_only=True)
    *_, life_shown = LifelongTab.redraw(views, "score", None, None, key, drawn_only=True)
    assert shown == new_key and life_shown == new_key
    store.close()
