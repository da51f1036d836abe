"""The real default-scale build from the shared MedMNIST files (the one test on real data)."""

from __future__ import annotations

import json
import time
from collections import Counter
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

    splits = {name: load_benchmark(out, name) for name in ("train", "public", "hidden")}
    hidden, public = splits["hidden"], splits["public"]
    assert len(hidden) >= 3000 and len(public) >= 1500
    reasoning = [c for c in hidden.cases if c.task == "reasoning"]
    assert len(reasoning) >= 0.3 * len(hidden)
    for case in reasoning:
        check_needs_several_frames(case)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["train"]["cases"] >= 3000
    assert manifest["splits"]["hidden"]["sha256"] == hidden.sha256
    check_locality_pools(splits)
    check_prefixes_cover_both_tiers(public.cases)


def _pixels(images) -> set[bytes]:
    return {im.tobytes() for im in images}


def check_locality_pools(splits) -> None:
    """Nothing of hidden or public is in train, nothing of hidden in public; the hidden split
    repeats no text prompt more than twice and asks 100+ distinct image-locality questions."""
    texts = {name: Counter(c.loc_question for c in s.cases) for name, s in splits.items()}
    wordings = {name: {c.m_loc_question for c in s.cases} for name, s in splits.items()}
    images = {
        name: set().union(*(_pixels(c.m_loc_images + c.mc_loc_images) for c in s.cases))
        for name, s in splits.items()
    }
    for later, earlier in (("public", "train"), ("hidden", "train"), ("hidden", "public")):
        assert not set(texts[later]) & set(texts[earlier]), f"text prompts: {later} in {earlier}"
        assert not wordings[later] & wordings[earlier], f"image questions: {later} in {earlier}"
        assert not images[later] & images[earlier], f"locality images: {later} in {earlier}"
    assert max(texts["hidden"].values()) <= 2
    assert len(wordings["hidden"]) >= 100


def check_prefixes_cover_both_tiers(cases) -> None:
    share = sum(c.task == "reasoning" for c in cases) / len(cases)
    for n in (10, 50, 200):
        prefix = [c.task for c in cases[:n]]
        assert abs(prefix.count("reasoning") / n - share) <= 1 / n + 1e-9
