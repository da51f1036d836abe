"""The app's tabs, one builder per tab (`build_*_tab`), composed by `leaderboard.ui.build_ui`.
A builder lays out its tab's components and returns them; its `wire` registers the tab's events
with the callbacks shared by several tabs (`BoardViews`)."""

from leaderboard.tabs.about import build_about_tab, wire_about
from leaderboard.tabs.cases import CasesTab, build_cases_tab
from leaderboard.tabs.compare import CompareTab, build_compare_tab
from leaderboard.tabs.efficiency import EfficiencyTab, build_efficiency_tab
from leaderboard.tabs.leaderboard_tab import LeaderboardTab, build_leaderboard_tab
from leaderboard.tabs.lifelong import LifelongTab, build_lifelong_tab
from leaderboard.tabs.long_tail import LongTailTab, build_long_tail_tab
from leaderboard.tabs.queue import build_queue_tab
from leaderboard.tabs.row_jumps import RowJumps
from leaderboard.tabs.submit import SubmitTab, build_submit_tab
from leaderboard.tabs.views import BoardViews

__all__ = [
    "BoardViews",
    "CasesTab",
    "CompareTab",
    "EfficiencyTab",
    "LeaderboardTab",
    "LifelongTab",
    "LongTailTab",
    "RowJumps",
    "SubmitTab",
    "build_about_tab",
    "build_cases_tab",
    "build_compare_tab",
    "build_efficiency_tab",
    "build_leaderboard_tab",
    "build_lifelong_tab",
    "build_long_tail_tab",
    "build_queue_tab",
    "build_submit_tab",
    "wire_about",
]
