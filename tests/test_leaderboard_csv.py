"""CSV downloads: the filtered table's rows and shown columns, and every result with every
metric, interval and provenance field; written only under the downloads folder."""

from __future__ import annotations

import pandas as pd
import pytest

from contract import paths
from contract.names import METRICS
from leaderboard.columns import default_visible
from leaderboard.csv_export import ALL_RESULTS_KEYS, write_all_results_csv, write_filtered_csv
from leaderboard.table import leaderboard_view, results_frame
from submissions import Store
from tests.app_support import store_results


@pytest.fixture
def frame(real_results, tmp_path, monkeypatch):
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store_results(store, real_results)
    return results_frame(store.results())


def test_filtered_csv_holds_the_filtered_rows_and_shown_columns(frame):
    editor = sorted(set(frame["editor"]))[0]
    view = leaderboard_view(frame, setting="single", tier="overall", editors=[editor])
    path = write_filtered_csv(view, default_visible())
    assert path.parent == paths.downloads_dir()
    written = pd.read_csv(path)
    assert len(written) == len(view)
    assert set(written["editor"]) == {editor}
    assert written["model"].tolist() == view["model_id"].tolist()
    assert "locality_text" not in written.columns
    assert written["reliability"].tolist() == pytest.approx(view["reliability"].tolist())


def test_all_results_csv_has_every_metric_interval_and_provenance(frame):
    path = write_all_results_csv(frame)
    assert path.is_relative_to(paths.downloads_dir())
    written = pd.read_csv(path)
    assert list(written.columns) == ALL_RESULTS_KEYS
    assert len(written) == len(frame)
    for metric in METRICS:
        assert {metric, f"{metric}_lo", f"{metric}_hi", f"token_{metric}"} <= set(written.columns)
    for key in ("model_revision", "config_hash", "benchmark_version", "split_sha256", "seed"):
        assert written[key].notna().all(), key


def test_formula_names_from_submitters_reach_the_csvs_as_text(real_results, tmp_path, monkeypatch):
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    store = Store(f"sqlite:///{tmp_path / 'formula.db'}")
    attack = '=HYPERLINK("http://evil.example","click")'
    store_results(store, real_results, submitter=attack, organisation="=cmd|' /C calc'!A0")
    frame = results_frame(store.results())
    view = leaderboard_view(frame, setting="single", tier="overall")
    shown = [*default_visible(), "submitter"]
    for path in (write_all_results_csv(frame), write_filtered_csv(view, shown)):
        written = pd.read_csv(path)
        assert set(written["submitter"]) == {"'" + attack}, path.name
        assert pd.api.types.is_float_dtype(written["reliability"]), path.name
    assert set(pd.read_csv(write_all_results_csv(frame))["organisation"]) == {"'=cmd|' /C calc'!A0"}
