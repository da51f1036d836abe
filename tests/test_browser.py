"""End to end in Debian's chromium (Playwright, never a downloaded browser): the table loads,
sorting and search work, the plots render, a form submission reaches the queue tab, and the
CSV download holds the visible rows. A screenshot of each tab goes to test-artifacts/."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.request import urlopen

import pandas as pd
import pytest

from leaderboard.columns import label_of
from leaderboard.long_tail import QUESTION_TYPES
from submissions import Store
from tests.app_support import serve_app, store_results

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 60_000
TABLE = "#leaderboard-table"
QUESTION_TYPE_NAMES = {t for types in QUESTION_TYPES.values() for t in types}


@pytest.fixture
def base_url(real_results, tmp_path, monkeypatch, tiny_llava_onevision_dir):
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MME_MODELS_ROOT", str(tiny_llava_onevision_dir.parent))  # served there
    (tmp_path / "home").mkdir()
    url = f"sqlite:///{tmp_path / 'home' / 'store.db'}"
    store = Store(url)
    store_results(store, real_results)
    with serve_app(store, url) as base:
        yield base + "/"


@contextlib.contextmanager
def chromium_page(url: str) -> Iterator[Page]:
    """Debian's chromium, headless, on `url` (downloads accepted); closed on exit."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 1500, "height": 1100}, accept_downloads=True
            )
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            yield page
        finally:
            browser.close()


@pytest.fixture
def page(base_url):
    with chromium_page(base_url) as page:
        page.wait_for_selector(f"{TABLE} .virtual-row [role=gridcell]")
        yield page


def _column(page, label: str) -> list[str]:
    """Cell texts of one column of the leaderboard table, top to bottom as displayed."""
    titles = page.locator(f"{TABLE} thead th").evaluate_all("ths => ths.map(t => t.title)")
    index = titles.index(label)
    return page.locator(f"{TABLE} .virtual-row").evaluate_all(
        """(rows, index) => rows
            .map(r => [Number(r.dataset.index), r.querySelectorAll('[role=gridcell]')[index]])
            .sort((a, b) => a[0] - b[0])
            .map(([, cell]) => cell.innerText.trim())""",
        index,
    )


def _header(page, label: str):
    return page.locator(f'{TABLE} thead th[title="{label}"]').first


def _sort(page, label: str, order: str) -> None:
    """Sort through the column's own menu (Gradio 6: header, then its cell menu)."""
    header = _header(page, label)
    header.click()
    header.get_by_role("button", name="Open cell menu").click()
    page.get_by_role("menuitem", name=order).click()
    page.wait_for_timeout(300)


def _fill(page, field: str, text: str) -> None:
    page.locator(f"#form-{field} textarea, #form-{field} input").first.fill(text)


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"tab-{name}.png"), full_page=True)


def _wait_for(page, check, timeout_ms: int = TIMEOUT_MS) -> None:
    waited = 0
    while not check():
        if waited >= timeout_ms:
            raise AssertionError(f"condition not met within {timeout_ms} ms")
        page.wait_for_timeout(250)
        waited += 250


def test_table_loads_sorts_and_searches(page, real_results):
    single = [r for r in real_results if r["setting"] == "single"]
    _wait_for(page, lambda: len(_column(page, label_of("editor"))) == len(single))
    _shot(page, "leaderboard")

    _sort(page, label_of("reliability"), "Sort ascending")
    ascending = [float(v) for v in _column(page, label_of("reliability"))]
    assert ascending == sorted(ascending)
    editors_ascending = _column(page, label_of("editor"))
    _sort(page, label_of("reliability"), "Sort descending")
    descending = [float(v) for v in _column(page, label_of("reliability"))]
    assert descending == sorted(ascending, reverse=True)
    if len(set(ascending)) > 1:
        assert _column(page, label_of("editor")) != editors_ascending

    editor = sorted({r["editor"]["name"] for r in single})[0]
    page.locator("#lb-search textarea, #lb-search input").first.fill(editor)
    expected = sum(1 for r in single if r["editor"]["name"] == editor)
    _wait_for(page, lambda: _column(page, label_of("editor")) == [editor] * expected)


def test_csv_download_holds_the_visible_rows(page):
    config = json.loads(urlopen(page.url + "config", timeout=30).read())
    (initial,) = [
        c for c in config["components"] if c["props"].get("elem_id") == "download-filtered"
    ]
    assert initial["props"]["interactive"] is False  # nothing to click before the file exists
    editors = _column(page, label_of("editor"))
    button = page.locator("#download-filtered")
    # disabled until its file is written (the page load's second step)
    page.wait_for_selector("#download-filtered:not([disabled])")
    with page.expect_download() as download:
        button.click()
    written = pd.read_csv(download.value.path())
    assert sorted(written["editor"]) == sorted(editors)
    assert sorted(written["reliability"].round(4)) == sorted(
        float(v) for v in _column(page, label_of("reliability"))
    )


def test_efficiency_and_lifelong_plots_render(page):
    _tab(page, "Efficiency")
    page.wait_for_selector("#plot-latency .js-plotly-plot .scatterlayer .trace")
    page.wait_for_selector("#plot-memory .js-plotly-plot .scatterlayer .trace")
    legend = page.locator("#plot-latency .legendtext").all_text_contents()
    assert legend.count("Pareto front") == 1
    _shot(page, "efficiency")
    _tab(page, "Lifelong")
    page.wait_for_selector("#plot-lifelong .js-plotly-plot .scatterlayer .trace")
    assert "log scale" in page.locator("#plot-lifelong").inner_text()
    page.locator("#lifelong-metric").get_by_label("score").check()
    page.wait_for_function(
        "document.querySelector('#plot-lifelong .gtitle')?.textContent.includes('score')"
    )
    assert page.locator("#plot-lifelong .js-plotly-plot .scatterlayer .trace").count() >= 1
    _shot(page, "lifelong")
    _tab(page, "About")
    assert "Ranking rule" in page.locator("body").inner_text()
    _shot(page, "about")


def test_the_long_tail_tab_draws_editors_by_question_type(page):
    _tab(page, "Long tail")
    page.wait_for_function(
        "document.querySelector('#plot-long-tail .gtitle')?.textContent"
        ".includes('by question type')"
    )
    title = page.locator("#plot-long-tail .gtitle").text_content() or ""
    assert title.startswith("score by question type") and "(single)" in title
    page.wait_for_selector("#plot-long-tail .xtick text", state="attached")
    ticks = page.locator("#plot-long-tail .xtick text").all_text_contents()
    assert ticks and all(t in QUESTION_TYPE_NAMES for t in ticks), ticks
    # two edits per run here: every type has too few for an interval, and the plot says so
    assert "too few edits" in (page.locator("#plot-long-tail .annotation").text_content() or "")
    page.locator("#long-tail-csv").wait_for()
    _shot(page, "long-tail")


def test_two_runs_are_compared_side_by_side(page):
    _tab(page, "Compare")
    for box in ("#compare-a", "#compare-b"):
        page.locator(f"{box} input").click()
        options = page.get_by_role("option")
        options.first.wait_for()
        options.nth(0 if box.endswith("a") else 1).click()
    page.wait_for_function(
        "document.querySelector('#compare-table')?.innerText.includes('intervals overlap')"
    )
    text = page.locator("#compare-table").inner_text()
    assert all(m in text for m in ("score", "reliability", "generality", "locality"))
    _shot(page, "compare")


def test_a_form_submission_appears_in_the_queue(page, tiny_llava_onevision_dir):
    _tab(page, "Submit")
    _fill(page, "model_id", str(tiny_llava_onevision_dir))
    _fill(page, "submitter", "Browser Test")
    _fill(page, "organisation", "browser-tests")
    _fill(page, "contact", "browser@example.org")
    _shot(page, "submit")
    page.locator("#submit-button").click()
    page.wait_for_selector("#submit-message:has-text('queued')")
    assert "Request key" in page.locator("#submit-message").inner_text()
    _tab(page, "Queue")
    _wait_for(page, lambda: "Browser Test" in page.locator("#queue-table").inner_text())
    assert "PENDING" in page.locator("#queue-table").inner_text()
    _shot(page, "queue")


def test_size_filter_and_a_rows_reproduction_and_result_json(page, real_results):
    single = [r for r in real_results if r["setting"] == "single"]
    _wait_for(page, lambda: len(_column(page, label_of("editor"))) == len(single))
    sizes = page.locator("#lb-sizes")
    sizes.get_by_label("<1B").check()  # the stored requests' sizes are unknown
    _wait_for(page, lambda: _column(page, label_of("editor")) == [])
    sizes.get_by_label("unknown").check()
    _wait_for(page, lambda: len(_column(page, label_of("editor"))) == len(single))

    page.locator(f"{TABLE} .virtual-row [role=gridcell]").first.click()
    details = page.locator("#row-details")
    _wait_for(page, lambda: "--split public" in details.inner_text())
    text = details.inner_text()
    assert "python -m evaluator run --model" in text and "--split hidden" not in text
    with page.expect_download() as download:
        page.locator("#download-result").click()
    result = json.loads(Path(download.value.path()).read_text())
    assert result["setting"] == "single"
    assert f"--editor {result['editor']['name']}" in text
    _shot(page, "row-detail")
