"""How long the leaderboard takes with 10,000 result rows.

The rows are COPIES of real results (read from a store), each written by the evaluator's
result writer (evaluator.result.write_result, which validates it) with its model id labelled
`<id>#copy-NNNNN`, then stored through the Store's own methods. Timed: reading the store,
building the results frame, the leaderboard view of one setting/tier, the CSVs, and
(with --browser) the leaderboard tab rendered in chromium until its first rows show.

    python benchmarks/bench_leaderboard_render.py --source sqlite:///data/store.db --browser
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        required=True,
        help="real results: a store URL (sqlite:///...) or a folder of result JSON files "
        "(as written by `python -m evaluator run --out`)",
    )
    parser.add_argument("--rows", type=int, default=10_000, help="result rows to generate")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse copies already stored in --workdir"
    )
    parser.add_argument("--browser", action="store_true", help="also time the tab in chromium")
    parser.add_argument(
        "--workdir", default=None, help="where to write copies (default: a tmp dir)"
    )
    return parser


def read_real_results(source: str) -> list[dict]:
    from submissions import Store

    if "://" in source:
        return [row.result for row in Store(source).results()]
    return [json.loads(p.read_text()) for p in sorted(Path(source).glob("*.json"))]


def labelled_copies(results: list[dict], rows: int, folder: Path) -> list[dict]:
    """`rows` copies of the real results, written and re-read with the evaluator's writer."""
    from evaluator.result import write_result

    out = []
    for i in range(rows):
        result = copy.deepcopy(results[i % len(results)])
        result["model"]["id"] = f"{result['model']['id']}#copy-{i // 2:05d}"
        path = write_result(result, folder / f"copy-{i:05d}.json")
        out.append(json.loads(path.read_text()))
    return out


def store_copies(store, results: list[dict]) -> None:
    """One FINISHED request per (copied model, editor, config), through the Store's methods."""
    from submissions import SubmissionRecord

    groups: dict[tuple, list[dict]] = {}
    for result in results:
        key = (result["model"]["id"], result["editor"]["name"], result["editor"]["config_hash"])
        groups.setdefault(key, []).append(result)
    for group in groups.values():
        first = group[0]
        settings = {r["setting"] for r in group}
        record = SubmissionRecord(
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
        row = store.add_request(record)
        claimed = store.claim("bench", lease_s=600)
        assert claimed is not None and claimed.id == row.id
        for result in group:
            store.save_result(row.id, "bench", result["setting"], result)
        store.finish(row.id, "bench")


def timed(label: str, fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    print(f"{label:<48} {time.perf_counter() - start:8.3f} s", flush=True)
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="mme-bench-"))
    os.environ["MME_HOME"] = str(work / "home")
    (work / "home").mkdir(parents=True, exist_ok=True)
    (work / "copies").mkdir(exist_ok=True)

    from leaderboard.csv_export import write_all_results_csv, write_filtered_csv
    from leaderboard.table import display_frame, leaderboard_view, results_frame
    from submissions import Store

    real = read_real_results(args.source)
    if not real:
        print(f"no results in {args.source}; run the app until some rows exist")
        return 1
    print(f"{len(real)} real result(s) copied to {args.rows} rows, under {work}")
    url = f"sqlite:///{work / 'home' / 'store.db'}"
    store = Store(url)
    if args.reuse and store.count_requests():
        print(f"reusing the {store.count_requests()} copied requests already in {url}")
    else:
        copies = timed(
            "write+read copies (write_result)", labelled_copies, real, args.rows, work / "copies"
        )
        timed("store copies (add/claim/save/finish)", store_copies, store, copies)
    rows = timed("store.results()", store.results)
    print(f"  {len(rows)} result rows")
    frame = timed("results_frame (all tiers)", results_frame, rows)
    view = timed(
        "leaderboard_view single/overall", leaderboard_view, frame, setting="single", tier="overall"
    )
    timed("display_frame", display_frame, view)
    timed("filtered CSV", write_filtered_csv, view, None)
    timed("all-results CSV", write_all_results_csv, frame)
    if args.browser:
        time_browser(store, url)
    return 0


def time_browser(store, url: str) -> None:
    """Serve the app and time chromium from navigation until the table shows rows."""
    from playwright.sync_api import sync_playwright

    from leaderboard.service import LeaderboardService, launch_kwargs
    from leaderboard.ui import build_service_ui

    service = LeaderboardService(store)
    app = build_service_ui(service, refresh_s=30.0)
    app.launch(
        server_name="127.0.0.1", server_port=7899, prevent_thread_lock=True, **launch_kwargs(url)
    )
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
            for attempt in ("cold", "warm"):
                start = time.perf_counter()
                page.goto("http://127.0.0.1:7899/")
                page.wait_for_selector(
                    "#leaderboard-table .virtual-row [role=gridcell]", timeout=300_000
                )
                page.wait_for_function(
                    "document.querySelectorAll('#leaderboard-table .virtual-row').length > 5",
                    timeout=300_000,
                )
                print(
                    f"{'browser: leaderboard tab shows rows (' + attempt + ')':<48} "
                    f"{time.perf_counter() - start:8.3f} s",
                    flush=True,
                )
            browser.close()
    finally:
        app.close()


if __name__ == "__main__":
    sys.exit(main())
