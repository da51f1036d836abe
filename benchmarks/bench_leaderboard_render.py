"""How fast the leaderboard reads and renders with 10,000 result rows, on SQLite or PostgreSQL.

The rows are COPIES of real results (read from a store or a folder of result JSONs), each
checked by the evaluator's validator (evaluator.result.validate_result) with its model id
labelled `<id>#copy-NNNNN`, and stored through the Store's own bulk API
(`Store.import_finished`: one FINISHED request per copied (model, editor, config), its results
written like the worker writes them: JSON and the board's columns). Then timed, each against
its target (issue 18):

- writing one result through the worker's path (`save_result`), store time only: <= 5 ms
- reading the board's frame (narrow stored columns, no JSON: the app's cold read): <= 0.5 s
- an incremental refresh after new results arrive (only those are read)
- for comparison, the full path: every result JSON (`store.results()` + `results_frame`),
  which only the all-results CSV and a row's detail still use
- with --browser: the Leaderboard tab in Debian's chromium until its rows show, cold (first
  visit after the app started) <= 3 s and warm (a reload; median of 3) <= 1 s. The app reads
  the board once in the background when it starts, as `app.py` does; the tab shows the first
  200 rows by score (leaderboard.ui.TABLE_MAX_ROWS)
- the whole set-up (copies + bulk insert) reaching the row count: < 2 minutes

    python benchmarks/bench_leaderboard_render.py --source FOLDER_OR_STORE_URL --browser
    python benchmarks/bench_leaderboard_render.py --source ... --store postgresql+psycopg://...
    python benchmarks/bench_leaderboard_render.py --source ... --throwaway-postgres --browser

`--throwaway-postgres` starts a PostgreSQL cluster (Debian's postgresql, default durability:
fsync on) on 127.0.0.1 in a temporary folder as an unprivileged user, and stops it at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGETS = {
    "write": 0.005,  # s of store time per result written by a worker
    "board": 0.5,  # s to read the board's frame
    "browser_warm": 1.0,
    "browser_cold": 3.0,
    "setup": 120.0,  # s to reach the row count
}
BATCH = 1000  # requests per import_finished call
WRITE_SAMPLES = 200  # results written one by one through the worker's path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        required=True,
        help="real results: a store URL (sqlite:///...) or a folder of result JSON files "
        "(as written by `python -m evaluator run --out`)",
    )
    parser.add_argument("--rows", type=int, default=10_000, help="result rows to store")
    parser.add_argument(
        "--store",
        default=None,
        help="store URL to fill (default: a new SQLite file under --workdir); its tables must "
        "be empty unless --reuse",
    )
    parser.add_argument(
        "--throwaway-postgres",
        action="store_true",
        help="fill a new database on a throw-away PostgreSQL cluster started for this run",
    )
    parser.add_argument("--reuse", action="store_true", help="reuse the copies already in --store")
    parser.add_argument("--browser", action="store_true", help="also time the tab in chromium")
    parser.add_argument("--port", type=int, default=7899, help="port of the app (127.0.0.1)")
    parser.add_argument(
        "--workdir", default=None, help="where to write the store and the app's files"
    )
    return parser


def read_real_results(source: str) -> list[dict]:
    from submissions import Store

    if "://" in source:
        store = Store(source)
        try:
            return [row.result for row in store.results()]
        finally:
            store.close()
    return [json.loads(p.read_text()) for p in sorted(Path(source).glob("*.json"))]


def labelled_copies(results: list[dict], rows: int) -> list[dict]:
    """`rows` copies of the real results, each validated like the evaluator's writer does."""
    from evaluator.result import validate_result

    out = []
    for i in range(rows):
        result = copy.deepcopy(results[i % len(results)])
        result["model"]["id"] = f"{result['model']['id']}#copy-{i // 2:05d}"
        validate_result(result)
        out.append(result)
    return out


def _record(first: dict, settings: set[str], n: int = 0):
    from submissions import SubmissionRecord

    return SubmissionRecord(
        model_id=first["model"]["id"],
        revision=first["model"]["revision"],
        model_type="general",
        editor=first["editor"]["name"],
        editor_config="",
        config_hash=first["editor"]["config_hash"],
        settings=tuple(s for s in ("single", "lifelong") if s in settings),
        submitter="render benchmark (copies of real results)",
        organisation="benchmark",
        contact="bench@example.org",
        submitted_at="2026-01-01T00:00:00+00:00",
    )


def grouped(results: list[dict]) -> list[tuple]:
    """(record, {setting: result}) per copied (model, editor, config)."""
    groups: dict[tuple, dict[str, dict]] = {}
    for result in results:
        key = (result["model"]["id"], result["editor"]["name"], result["editor"]["config_hash"])
        groups.setdefault(key, {})[result["setting"]] = result
    return [
        (_record(next(iter(by_setting.values())), set(by_setting)), by_setting)
        for by_setting in groups.values()
    ]


def store_copies(store, results: list[dict]) -> int:
    """Bulk insert through the Store's own API, BATCH requests per transaction."""
    entries = grouped(results)
    for start in range(0, len(entries), BATCH):
        store.import_finished(entries[start : start + BATCH])
    return len(entries)


def time_writes(store, real: list[dict], samples: int, label: str = "write") -> list[float]:
    """Store seconds of `save_result`, the call a worker makes per result, on `samples` new
    requests (queued, claimed, saved, finished like a worker does)."""
    spent = []
    for i in range(samples):
        result = copy.deepcopy(real[i % len(real)])
        result["model"]["id"] = f"{result['model']['id']}#{label}-{i:05d}"
        row = store.add_request(_record(result, {result["setting"]}))
        claimed = store.claim("bench-writer", lease_s=600)
        assert claimed is not None and claimed.id == row.id
        start = time.perf_counter()
        store.save_result(row.id, "bench-writer", result["setting"], result)
        spent.append(time.perf_counter() - start)
        store.finish(row.id, "bench-writer")
    return spent


def timed(label: str, fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    elapsed = time.perf_counter() - start
    print(f"{label:<56} {elapsed:8.3f} s", flush=True)
    return value, elapsed


def verdict(value: float, target: float, unit: str = "s") -> str:
    shown = f"{target * 1000:g} ms" if unit == "ms" else f"{target:g} s"
    return f"{'ok  ' if value <= target else 'MISS'} (target <= {shown})"


@contextlib.contextmanager
def store_url(args, work: Path) -> Iterator[str]:
    if args.throwaway_postgres:
        from tests.fixtures.stores import postgres_cluster

        with postgres_cluster(durable=True) as cluster:
            yield cluster.create_database("mme_render_bench")
        return
    yield args.store or f"sqlite:///{work / 'home' / 'store.db'}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="mme-bench-"))
    os.environ["MME_HOME"] = str(work / "home")
    (work / "home").mkdir(parents=True, exist_ok=True)

    from leaderboard.csv_export import write_all_results_csv, write_filtered_csv
    from leaderboard.service import LeaderboardService
    from leaderboard.table import (
        board_frame,
        board_wide,
        display_frame,
        leaderboard_view,
        results_frame,
    )
    from leaderboard.ui import BoardCache
    from submissions import Store

    real = read_real_results(args.source)
    if not real:
        print(f"no results in {args.source}; run the app until some rows exist")
        return 1
    summary: dict[str, float] = {}
    with store_url(args, work) as url:
        store = Store(url)
        print(f"{len(real)} real result(s) copied to {args.rows} rows in {store.dialect} "
              f"({url.split('@')[-1]}), {os.cpu_count()} CPU cores, load average "
              f"{os.getloadavg()[0]:.2f}")  # fmt: skip
        summary |= fill_store(store, real, args.rows, args.reuse)
        writes = time_writes(store, real, WRITE_SAMPLES)
        summary["write"] = statistics.mean(writes)
        print(
            f"{'save_result (one result, store time), mean of ' + str(len(writes)):<56} "
            f"{summary['write'] * 1000:8.2f} ms  p50 {statistics.median(writes) * 1000:.2f}"
            f" ms  p95 {sorted(writes)[int(0.95 * len(writes))] * 1000:.2f} ms"
        )

        def read_board():
            board = store.board_rows()
            return board_frame(board_wide(board.columns, board.rows))

        frame, summary["board"] = timed("board frame (store.board_rows + board_frame)",
                                        read_board)  # fmt: skip
        print(f"  {len(frame)} lines ({len(frame) // 3} results x 3 tiers)")
        view, _ = timed("leaderboard_view single/overall", leaderboard_view, frame,
                        setting="single", tier="overall")  # fmt: skip
        timed("display_frame", display_frame, view)
        timed("filtered CSV", write_filtered_csv, view, None)

        cache = BoardCache(LeaderboardService(store))
        timed("app cache: first read (BoardCache.get)", cache.get)
        timed("app cache: refresh, nothing new", cache.get)
        time_writes(store, real, 10, "refresh")
        timed("app cache: refresh after 10 new results", cache.get)
        timed("app cache: lifelong curves, first read", cache.curves)

        rows, _ = timed("full path: store.results() (every JSON)", store.results)
        full, _ = timed("full path: results_frame", results_frame, rows)
        timed("full path: all-results CSV", write_all_results_csv, full)
        if args.browser:
            summary |= time_browser(store, url, args.port)
        store.close()
    print_summary(summary, args.rows, url)
    return 0


def fill_store(store, real: list[dict], rows: int, reuse: bool) -> dict[str, float]:
    """Store `rows` copies of the real results (unless `reuse` and some are stored already);
    returns {"setup": seconds} when it stored them."""
    if reuse and store.count_requests():
        print(f"reusing the {store.count_requests()} requests already stored")
        return {}
    start = time.perf_counter()
    copies, _ = timed("copies (deepcopy + validate_result)", labelled_copies, real, rows)
    requests, _ = timed(f"bulk insert (import_finished, {BATCH} requests per call)",
                        store_copies, store, copies)  # fmt: skip
    setup = time.perf_counter() - start
    print(f"  {requests} requests, {len(copies)} results; set-up "
          f"{setup:.1f} s {verdict(setup, TARGETS['setup'])}")  # fmt: skip
    return {"setup": setup}


def print_summary(summary: dict[str, float], rows: int, url: str) -> None:
    """Each timed figure beside its target."""
    print("\nsummary at", rows, "result rows,", "store:", url.split("://")[0])
    labels = {
        "setup": ("reach the row count (copies + bulk insert)", "s"),
        "write": ("write one result (save_result, store time)", "ms"),
        "board": ("read the board's frame", "s"),
        "browser_cold": ("Leaderboard tab shows rows, cold", "s"),
        "browser_warm": ("Leaderboard tab shows rows, warm (median of 3)", "s"),
    }
    for key, (label, unit) in labels.items():
        if key in summary:
            value, target = summary[key], TARGETS[key]
            shown = f"{value * 1000:.2f} ms" if unit == "ms" else f"{value:.3f} s"
            print(f"  {label:<50} {shown:>12}  {verdict(value, target, unit)}")


def time_browser(store, url: str, port: int) -> dict[str, float]:
    """Serve the app and time chromium from navigation until the table shows rows."""
    from playwright.sync_api import sync_playwright

    from leaderboard.service import LeaderboardService, launch_kwargs
    from leaderboard.ui import build_service_ui

    service = LeaderboardService(store)
    app = build_service_ui(service, refresh_s=30.0)
    app.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, **launch_kwargs(url)
    )
    out = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                ],
            )
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            warm = []
            for attempt in ("cold", "warm", "warm", "warm"):
                start = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector(
                    "#leaderboard-table .virtual-row [role=gridcell]", timeout=300_000
                )
                page.wait_for_function(
                    "document.querySelectorAll('#leaderboard-table .virtual-row').length > 5",
                    timeout=300_000,
                )
                elapsed = time.perf_counter() - start
                if attempt == "cold":
                    out["browser_cold"] = elapsed
                else:
                    warm.append(elapsed)
                print(
                    f"{'browser: leaderboard tab shows rows (' + attempt + ')':<56} "
                    f"{elapsed:8.3f} s",
                    flush=True,
                )
            browser.close()
            out["browser_warm"] = statistics.median(warm)
    finally:
        app.close()
    return out


if __name__ == "__main__":
    sys.exit(main())
