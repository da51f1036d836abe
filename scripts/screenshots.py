"""Screenshots of every tab of the app, for the README: serves the real UI on 127.0.0.1 over a
store (or over result JSON files put in a temporary store) and photographs each tab in Debian's
chromium. Not a test; the browser tests check the same views.

    python scripts/screenshots.py --results FOLDER_OF_RESULT_JSONS --out docs/screenshots
    python scripts/screenshots.py --store sqlite:///data/store.db --out docs/screenshots

The Cases tab shows a built benchmark's public split (`--benchmark`, default
data/benchmark/multimededit-mini) and the public-split runs of a gallery folder (`--gallery`,
default data/gallery). `--tabs Cases` photographs only the tabs named. The Compare tab compares
the runs whose labels ("model · editor · config · setting") match the two regular expressions
of `--compare` (default: the first two runs offered); the cases each fixed or broke come from
gallery runs of the same model revision, editor, config and setting.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contract.names import SETTINGS  # noqa: E402
from submissions import Store, SubmissionRecord  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# tab label -> (file name, the selector that shows the tab has drawn)
TABS = {
    "Leaderboard": ("leaderboard", "#leaderboard-table .virtual-row [role=gridcell]"),
    "Efficiency": ("efficiency", "#plot-latency .js-plotly-plot"),
    "Lifelong": ("lifelong", "#plot-lifelong .js-plotly-plot"),
    "Long tail": ("long-tail", "#plot-long-tail .js-plotly-plot"),
    "Compare": ("compare", "#compare-table:has-text('intervals overlap')"),
    "Cases": ("cases", "#case-card:has-text('Question'), #case-card:has-text('not built')"),
    "Submit": ("submit", "#submit-button"),
    "Queue": ("queue", "body"),
    "About": ("about", "body"),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--store", help="a store URL to show as it is")
    source.add_argument("--results", type=Path, help="a folder of result JSON files")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--port", type=int, default=7870)
    parser.add_argument("--benchmark", type=Path, default=Path("data/benchmark/multimededit-mini"))
    parser.add_argument("--gallery", type=Path, default=Path("data/gallery"))
    parser.add_argument(
        "--tabs", nargs="+", choices=list(TABS), default=list(TABS), help="the tabs to photograph"
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("RUN_A", "RUN_B"),
        default=("", ""),
        help="regular expressions matched against the Compare tab's run labels",
    )
    parser.add_argument(
        "--compare-height", type=int, default=1750, help="pixels of the Compare tab's picture"
    )
    return parser.parse_args()


def store_result_files(store: Store, folder: Path) -> int:
    """One FINISHED request per (model, editor, config) of the result files; returns the count."""
    groups: dict[tuple[str, str, str], dict[str, dict]] = defaultdict(dict)
    for path in sorted(folder.glob("*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        editor = result["editor"]
        groups[(result["model"]["id"], editor["name"], editor["config_hash"])][
            result["setting"]
        ] = result
    entries = []
    for (model, editor, config_hash), results in groups.items():
        first = next(iter(results.values()))
        record = SubmissionRecord(
            model_id=model,
            revision=first["model"]["revision"],
            model_type="general",
            editor=editor,
            editor_config=json.dumps(first["editor"]["config"], sort_keys=True),
            config_hash=config_hash,
            settings=tuple(s for s in SETTINGS if s in results),
            submitter="screenshots",
            organisation="MultiMedEdit",
            contact="screenshots@example.org",
            submitted_at=first["created_at"],
        )
        entries.append((record, results))
    return len(store.import_finished(entries))


@contextmanager
def served(store: Store, url: str, port: int, benchmark: Path, gallery: Path) -> Iterator[str]:
    """The app over `store` (and the gallery's public cases and runs) on 127.0.0.1:`port`,
    closed on exit."""
    from backend.checks import EvaluatorChecks
    from backend.gallery import PublicCaseLibrary
    from leaderboard.cases import Gallery
    from leaderboard.service import LeaderboardService, launch_kwargs
    from leaderboard.ui import build_service_ui

    app = build_service_ui(
        LeaderboardService(store, checks=EvaluatorChecks()),
        refresh_s=60.0,
        gallery=Gallery.at(PublicCaseLibrary(benchmark.resolve()), gallery.resolve()),
    )
    app.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, **launch_kwargs(url)
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def pick_runs(page: Page, patterns: tuple[str, str]) -> None:
    """In the Compare tab, pick as run A and run B the first runs whose labels match the two
    patterns (an empty pattern: the first run, then the second, offered)."""
    for index, (box, pattern) in enumerate(
        zip(("#compare-a", "#compare-b"), patterns, strict=True)
    ):
        page.locator(f"{box} input").click()
        options = page.get_by_role("option")
        options.first.wait_for()
        if pattern:
            options.filter(has_text=re.compile(pattern)).first.click()
        else:
            options.nth(index).click()


def photograph(
    base_url: str,
    out: Path,
    tabs: list[str],
    compare: tuple[str, str] = ("", ""),
    compare_height: int = 1750,
) -> list[Path]:
    """One PNG per tab named in `tabs` (the visible part of the page; the Compare tab's top
    `compare_height` pixels, so that its cases show below the metrics), in TABS order."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(base_url)
        page.wait_for_selector(TABS["Leaderboard"][1])
        for label, (name, ready) in TABS.items():
            if label not in tabs:
                continue
            page.get_by_role("tab", name=label).click()
            if label == "Compare":
                pick_runs(page, compare)
            page.wait_for_selector(ready)
            page.wait_for_timeout(1500)  # let plots finish their transitions
            path = out / f"{name}.png"
            if label == "Compare":
                clip = {"x": 0, "y": 0, "width": 1400, "height": compare_height}
                page.screenshot(path=str(path), full_page=True, clip=clip)
            else:
                page.screenshot(path=str(path))
            written.append(path)
        browser.close()
    return written


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store or f"sqlite:///{Path(tmp) / 'store.db'}"
        store = Store(url)
        if args.results:
            print(f"stored {store_result_files(store, args.results)} request(s)")
        with served(store, url, args.port, args.benchmark, args.gallery) as base_url:
            shots = photograph(
                base_url, args.out, args.tabs, tuple(args.compare), args.compare_height
            )
            for path in shots:
                print(path)
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
