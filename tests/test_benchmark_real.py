"""The real default-scale build from the shared MedMNIST files (the one test on real data)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from evaluator.benchmark import load_benchmark
from evaluator.benchmark.builder import build_benchmark
from evaluator.benchmark.reasoning import check_needs_several_frames

MEDMNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "medmnist"


@pytest.mark.slow
def test_default_scale_from_real_medmnist(tmp_path):
    assert MEDMNIST.is_dir(), (
        f"real MedMNIST files expected in {MEDMNIST} (the five .npz files of "
        "../shared/data/medmnist); get them from https://medmnist.com"
    )
    start = time.perf_counter()
    out = build_benchmark(MEDMNIST, tmp_path / "mme", progress=False)
    elapsed = time.perf_counter() - start
    assert elapsed < 120, f"default build took {elapsed:.0f} s; it must stay under 2 minutes"

    hidden = load_benchmark(out, "hidden")
    public = load_benchmark(out, "public")
    assert len(hidden) >= 1000 and len(public) >= 300
    reasoning = [c for c in hidden.cases if c.task == "reasoning"]
    assert len(reasoning) >= 0.4 * len(hidden)
    for case in reasoning:
        check_needs_several_frames(case)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["train"]["cases"] >= 3000
    assert manifest["splits"]["hidden"]["sha256"] == hidden.sha256
