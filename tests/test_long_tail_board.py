"""The board side of the long tail: results -> the per-type frame, its CSV and the type
heatmap, whose cells with too few edits are blank with a "too few edits" hover."""

import math

import numpy as np
import pandas as pd
import pytest

from evaluator.metrics import MIN_EDITS_FOR_CI, CaseScores, summarize_by_type
from leaderboard.csv_export import ALL_RESULTS_KEYS, write_all_results_csv, write_by_type_csv
from leaderboard.long_tail import BY_TYPE_COLUMNS, by_type_frame
from leaderboard.plots import type_heatmap
from leaderboard.table import results_frame

PARTS = (
    "reliability",
    "generality_text",
    "generality_image",
    "locality_text",
    "locality_image",
    "locality_mc",
)
# (tier, type, edits): one type with enough edits for an interval, two with too few
TYPES = (
    ("understanding", "modality", MIN_EDITS_FOR_CI + 2),
    ("understanding", "finding", 3),
    ("reasoning", "which_frame", 2),
)


def by_type_block(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    cases, types = [], []
    for tier, qtype, n in TYPES:
        for _ in range(n):
            values = {p: float(rng.integers(0, 2)) for p in PARTS}
            cases.append(CaseScores(task=tier, exact=values, token=values))
            types.append(qtype)
    return summarize_by_type(cases, types, seed=seed)


def row(editor: str, setting: str = "single", *, block: bool = True, seed: int = 0) -> dict:
    result = {
        "schema_version": 3 if block else 2,
        "model": {"id": "org/tiny-vlm", "revision": "r"},
        "editor": {"name": editor, "config": {}, "config_hash": f"{seed:064x}"},
        "benchmark": {"name": "mini", "version": "1.0", "split": "public", "cases": 17},
        "setting": setting,
        "metrics": {},
    }
    if block:
        result["metrics_by_type"] = by_type_block(seed)
    return {"model_id": "org/tiny-vlm", "editor": editor, "setting": setting, "result": result}


@pytest.fixture
def rows() -> list[dict]:
    return [row("ft", seed=1), row("grace", seed=2), row("wise", block=False)]


def test_the_frame_has_a_line_per_result_and_type(rows):
    frame = by_type_frame(rows)
    assert tuple(frame.columns) == BY_TYPE_COLUMNS
    assert len(frame) == 2 * len(TYPES)  # the schema-2 result has no per-type lines
    assert set(frame["editor"]) == {"ft", "grace"}
    assert list(frame[frame["editor"] == "ft"]["type"]) == ["modality", "finding", "which_frame"]
    block = rows[0]["result"]["metrics_by_type"]
    for _, line in frame[frame["editor"] == "ft"].iterrows():
        entry = block[line["type"]]
        assert line["n"] == entry["n"] and line["tier"] == entry["tier"]
        assert line["score"] == entry["score"]["mean"]
        assert line["too_few_edits"] == (entry["n"] < MIN_EDITS_FOR_CI)
        if line["too_few_edits"]:
            assert math.isnan(line["score_lo"]) and math.isnan(line["locality_hi"])
        else:
            assert [line["score_lo"], line["score_hi"]] == entry["score"]["ci95"]


def test_no_results_with_the_block_give_an_empty_frame_with_the_columns():
    frame = by_type_frame([row("wise", block=False)])
    assert frame.empty and tuple(frame.columns) == BY_TYPE_COLUMNS


def test_the_by_type_csv_is_written_and_the_all_results_csv_keeps_its_columns(rows, tmp_path):
    path = write_by_type_csv(by_type_frame(rows), tmp_path)
    written = pd.read_csv(path)
    assert tuple(written.columns) == BY_TYPE_COLUMNS
    assert len(written) == 2 * len(TYPES)
    assert written["too_few_edits"].sum() == 2 * 2
    all_path = write_all_results_csv(results_frame(rows), tmp_path)
    assert list(pd.read_csv(all_path).columns) == ALL_RESULTS_KEYS


def test_the_heatmap_is_editors_by_types_with_too_few_cells_blank(rows):
    fig = type_heatmap(by_type_frame(rows), model="org/tiny-vlm", setting="single", metric="score")
    assert fig.layout.meta != "failure"
    heat = fig.data[0]
    assert list(heat.y) == ["ft", "grace"]
    assert list(heat.x) == ["modality", "finding", "which_frame"]
    for i, editor in enumerate(heat.y):
        block = rows[i]["result"]["metrics_by_type"]
        for j, qtype in enumerate(heat.x):
            cell, hover = heat.z[i][j], heat.text[i][j]
            if block[qtype]["too_few_edits"]:
                assert cell is None
                assert "too few edits" in hover
            else:
                assert cell == pytest.approx(block[qtype]["score"]["mean"])
                lo, hi = block[qtype]["score"]["ci95"]
                assert f"{lo:.3f}" in hover and f"{hi:.3f}" in hover
                assert f"n = {block[qtype]['n']}" in hover
                assert editor in hover


def test_the_heatmap_without_results_says_why(rows):
    fig = type_heatmap(by_type_frame(rows), model="org/other", setting="single", metric="score")
    assert fig.layout.meta == "failure"


def test_the_app_cache_reads_per_type_results_incrementally(real_results, tmp_path):
    """BoardCache.by_type equals by_type_frame over every stored result, after results arrive
    in two batches, parsing only the new results the second time."""
    from leaderboard.cache import BoardCache
    from leaderboard.service import LeaderboardService
    from submissions import Store
    from tests.app_support import store_results

    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    service = LeaderboardService(store)
    cache = BoardCache(service)
    first = [r for r in real_results if r["editor"]["name"] == "ike"]
    store_results(store, first)
    assert len(cache.by_type()) == len(by_type_frame(store.results())) > 0
    read: list[int] = []
    original = service.results
    service.results = lambda ids=None: (read.extend(ids or []), original(ids))[1]  # type: ignore[method-assign]
    store_results(store, [r for r in real_results if r["editor"]["name"] != "ike"])
    columns = ["model", "editor", "setting", "type", "n", "score"]
    expected = by_type_frame(store.results())[columns].sort_values(columns[:4])
    got = cache.by_type()[columns].sort_values(columns[:4])
    assert got.reset_index(drop=True).equals(expected.reset_index(drop=True))
    assert 0 < len(read) == len(real_results) - len(first)  # only the new results were parsed
    store.close()
