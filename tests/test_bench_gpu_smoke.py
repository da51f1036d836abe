"""benchmarks/bench_gpu_smoke.py on the CPU with the tiny zoo model: a row per editor and
setting, and for the editors that edit from one layer up a second run with the frozen-prefix
cache off, so the smoke reports seconds per edit before and after the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import bench_gpu_smoke as smoke


@pytest.mark.parametrize("compare", [True, False], ids=["cache-compare", "no-cache-compare"])
def test_the_smoke_reports_each_cached_editor_with_the_cache_off_too(
    tiny_llava_onevision_dir: Path, tiny_benchmark_dir: Path, tmp_path: Path, compare: bool
) -> None:
    out = tmp_path / "smoke.json"
    argv = [
        "--model", str(tiny_llava_onevision_dir), "--benchmark", str(tiny_benchmark_dir),
        "--device", "cpu", "--cases", "1", "--editors", "ft", "ike",
        "--settings", "single", "--json", str(out),
    ]  # fmt: skip
    assert smoke.main(argv if compare else [*argv, "--no-cache-compare"]) == 0
    rows = json.loads(out.read_text())
    states = [(r["editor"], r["prefix_cache"]) for r in rows]
    expected = [("ft", True), ("ft", False), ("ike", True)]
    assert states == (expected if compare else [("ft", True), ("ike", True)])
    assert all(r["status"].startswith("ok") and r["s_per_edit"] >= 0 for r in rows)
    ft = rows[0]
    if compare:  # the speed-up is the cache-off seconds over the cache-on seconds
        assert ft["speedup_vs_cache_off"] == pytest.approx(rows[1]["s_per_edit"] / ft["s_per_edit"])
    else:
        assert "speedup_vs_cache_off" not in ft


def test_a_cache_that_changed_a_metric_fails_the_smoke() -> None:
    on = ({"s_per_edit": 1.0, "status": "ok"}, {"score": 0.5})
    off = ({"s_per_edit": 3.0, "status": "ok"}, {"score": 0.25})
    smoke.compare_cache(on, off)
    assert on[0]["speedup_vs_cache_off"] == 3.0
    assert off[0]["status"].startswith("FAILED metrics differ")
