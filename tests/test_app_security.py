"""The app's file routes serve the downloads folder only: the hidden split, the benchmark
folder, the store and anything reached by `..` are refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from contract import paths
from leaderboard.csv_export import write_all_results_csv
from leaderboard.table import results_frame
from leaderboard.tabs.submit import NO_EDITORS
from submissions import Store
from tests.app_support import serve_app, store_results


@pytest.fixture
def served(real_results, tiny_benchmark_dir, tmp_path, monkeypatch):
    """Base URL of an app whose MME_HOME holds a benchmark (with its hidden split) and a store."""
    home = tmp_path / "home"
    monkeypatch.setenv("MME_HOME", str(home))
    bench = paths.benchmark_dir()
    bench.parent.mkdir(parents=True)
    bench.symlink_to(Path(tiny_benchmark_dir).resolve(), target_is_directory=True)
    url = f"sqlite:///{home / 'store.db'}"
    store = Store(url)
    store_results(store, real_results)
    with serve_app(store, url, catalog=NO_EDITORS, manifest_path=bench / "manifest.json") as base:
        yield base, home, store


def _private_files(home: Path) -> list[Path]:
    bench = paths.benchmark_dir()
    hidden = sorted(p for p in (bench / "hidden").rglob("*") if p.is_file())
    assert hidden, "the benchmark must have hidden-split files to protect"
    real_bench = bench.resolve()
    return [
        *hidden,
        *(real_bench / p.relative_to(bench) for p in hidden),
        bench / "manifest.json",
        home / "store.db",
    ]


def test_private_files_are_refused_by_every_file_route(served):
    base, home, _ = served
    for path in _private_files(home):
        assert path.exists()
        for route in ("/gradio_api/file=", "/file=", "/gradio_api/file/"):
            response = httpx.get(f"{base}{route}{path}")
            assert response.status_code in (403, 404), (route, path, response.status_code)


def test_traversal_out_of_the_downloads_folder_is_refused(served):
    base, home, _ = served
    downloads = paths.downloads_dir()
    store_rel = "../store.db"
    hidden = next(p for p in (paths.benchmark_dir() / "hidden").rglob("*") if p.is_file())
    for target in (
        f"{downloads}/{store_rel}",
        f"{downloads}/../benchmark/multimededit-mini/hidden/{hidden.name}",
        f"{downloads}/%2e%2e/store.db",
        "../../store.db",
    ):
        response = httpx.get(f"{base}/gradio_api/file={target}")
        assert response.status_code in (403, 404), (target, response.status_code)


def test_a_written_download_is_served(served):
    base, _, store = served
    path = write_all_results_csv(results_frame(store.results()))
    response = httpx.get(f"{base}/gradio_api/file={path}")
    assert response.status_code == 200
    assert response.text.splitlines()[0].startswith("model_id,")
