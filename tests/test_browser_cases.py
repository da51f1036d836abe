"""The case gallery in Debian's chromium: the Cases tab shows a public case (images, question,
options, rephrase and locality probes) and what a gallery run answered before and after its
edit; the Compare tab lists the cases a run fixed or broke, with images, and says plainly when
a run has no public-split predictions. Servers on 127.0.0.1, closed at the end."""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from submissions import Store
from tests.app_support import serve_app, store_results
from tests.test_browser import ARTIFACTS, chromium_page

pytestmark = pytest.mark.browser


def crafted_run(result: dict) -> dict:
    """The run with its first case fixed on the edit probe and broken on the MC locality probe
    (so that both lists have a case whatever the tiny model did)."""
    out = copy.deepcopy(result)
    probes = out["cases"][0]["probes"]
    edit = probes["edit"]
    edit.update(after=edit["expected"], hit_before=False, hit_after=True)
    mc = probes["loc_mc"]
    mc.update(before=mc["expected"], after=None, hit_before=True, hit_after=False)
    return out


@contextlib.contextmanager
def served_with_gallery(
    results: list[dict], gallery_run: dict, benchmark_dir: Path, home: Path
) -> Iterator[str]:
    """The app over a store of `results` and a gallery folder holding `gallery_run` (a
    public-split run on `benchmark_dir`'s cases); yields its URL, stops it on exit."""
    from backend.gallery import PublicCaseLibrary
    from leaderboard.cases import Gallery

    (home / "gallery").mkdir(parents=True)
    (home / "gallery" / "ike.json").write_text(json.dumps(gallery_run))
    url = f"sqlite:///{home / 'store.db'}"
    store = Store(url)
    store_results(store, results)
    gallery = Gallery.at(PublicCaseLibrary(benchmark_dir), home / "gallery")
    try:
        with serve_app(store, url, gallery=gallery) as base:
            yield base + "/"
    finally:
        store.close()


@pytest.fixture
def app_page(real_results, tiny_results, tiny_benchmark_dir, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("MME_HOME", str(home))
    run = crafted_run(tiny_results[("ike", "single")])
    with (
        served_with_gallery(real_results, run, tiny_benchmark_dir, home) as url,
        chromium_page(url) as page,
    ):
        yield page, run["cases"][0]


def test_the_cases_tab_shows_a_public_case_and_the_answers_before_and_after(app_page):
    page, edited = app_page
    page.get_by_role("tab", name="Cases").click()
    page.wait_for_selector("#case-card [data-case-id]")
    page.locator("#cases-tier").get_by_label(edited["tier"]).check()
    page.locator("#cases-type input").click()
    page.get_by_role("option", name=edited["question_type"], exact=True).click()
    card = page.locator(f'#case-card [data-case-id="{edited["case_id"]}"]')
    card.wait_for()  # the edited case comes first
    text = card.inner_text()
    for part in ("Question", "Correct answer", "Rephrased question", "Locality probes"):
        assert part in text
    assert card.locator("img").count() >= 4
    assert page.locator("#case-card img").first.evaluate("i => i.naturalWidth") > 0
    runs = page.locator("#case-runs").inner_text()
    assert "ike" in runs and "single" in runs and "→" in runs
    page.screenshot(path=str(ARTIFACTS / "tab-cases.png"), full_page=True)


def _pick(page, box: str, pattern: str) -> None:
    page.locator(f"{box} input").click()
    page.get_by_role("option").filter(has_text=re.compile(pattern)).first.click()


def test_compare_lists_the_cases_a_run_fixed_or_broke(app_page):
    page, edited = app_page
    page.get_by_role("tab", name="Compare").click()
    _pick(page, "#compare-a", r" · ike · .* · single$")
    _pick(page, "#compare-b", r" · grace · .* · single$")
    page.wait_for_function(
        "document.querySelector('#compare-cases')?.innerText.includes('no public-split')"
    )
    side_a = page.locator('#compare-cases [data-side="A"]')
    side_b = page.locator('#compare-cases [data-side="B"]')
    case = f'[data-case-id="{edited["case_id"]}"]'
    fixed, broke = side_a.locator(f".mme-fixed {case}"), side_a.locator(f".mme-broke {case}")
    assert fixed.locator("img").count() >= 1 and broke.locator("img").count() >= 1
    assert edited["case_id"] in fixed.inner_text()
    assert re.search(r"Fixed: [1-9]\d* case\(s\)", side_a.inner_text())
    assert "no public-split predictions for this run" in side_b.inner_text()
    assert side_b.locator("[data-case-id]").count() == 0
    page.screenshot(path=str(ARTIFACTS / "tab-compare-cases.png"), full_page=True)
