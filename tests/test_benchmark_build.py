"""The builder: determinism, split disjointness, case structure and the reasoning guarantee."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest

from contract.names import SPLITS
from evaluator.benchmark import load_benchmark
from evaluator.benchmark.builder import build_benchmark
from evaluator.benchmark.reasoning import check_needs_several_frames
from evaluator.benchmark.release import NAME, VERSION
from evaluator.benchmark.vocab import DEFAULT_FLAGS, subset


def _file_digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _pixels(image) -> bytes:
    return hashlib.sha256(image.convert("RGB").tobytes()).digest()


@pytest.fixture(scope="module")
def splits(tiny_benchmark_dir: Path):
    return {split: load_benchmark(str(tiny_benchmark_dir), split) for split in SPLITS}


def test_same_seed_builds_are_byte_identical(medmnist_npz_root, tiny_benchmark_dir, tmp_path):
    again = build_benchmark(medmnist_npz_root, tmp_path / "again", scale="small", progress=False)
    first, second = _file_digests(tiny_benchmark_dir), _file_digests(again)
    assert sorted(first) == [
        "README.md",
        "hidden/data-00000-of-00001.parquet",
        "manifest.json",
        "public/data-00000-of-00001.parquet",
        "train/data-00000-of-00001.parquet",
    ]
    assert first == second


def test_other_seed_gives_other_split_hashes(medmnist_npz_root, tiny_benchmark_dir, tmp_path):
    other = build_benchmark(
        medmnist_npz_root, tmp_path / "seed1", seed=1, scale="small", progress=False
    )
    a = json.loads((tiny_benchmark_dir / "manifest.json").read_text())
    b = json.loads((other / "manifest.json").read_text())
    assert b["seed"] == 1
    assert all(a["splits"][s]["sha256"] != b["splits"][s]["sha256"] for s in SPLITS)


def test_manifest_matches_loaded_splits(tiny_benchmark_dir, splits):
    manifest = json.loads((tiny_benchmark_dir / "manifest.json").read_text())
    assert (manifest["name"], manifest["version"]) == (NAME, VERSION)
    for split, loaded in splits.items():
        entry = manifest["splits"][split]
        assert loaded.sha256 == entry["sha256"]
        assert (loaded.name, loaded.version, loaded.split) == (NAME, VERSION, split)
        assert len(loaded) == entry["cases"]
        tasks = [c.task for c in loaded.cases]
        assert entry["by_task"] == {t: tasks.count(t) for t in ("understanding", "reasoning")}
        for task, types in entry["by_question_type"].items():
            kinds = [c.question_type for c in loaded.cases if c.task == task]
            assert types == {q: kinds.count(q) for q in sorted(set(kinds))}
    assert {s["flag"] for s in manifest["sources"]} == {
        "pneumoniamnist",
        "bloodmnist",
        "organamnist",
        "retinamnist",
        "breastmnist",
    }


def test_no_image_is_in_two_splits(splits):
    seen: dict[bytes, str] = {}
    for split, loaded in splits.items():
        for case in loaded.cases:
            for image in case.images + case.rephrase_images + case.m_loc_images:
                owner = seen.setdefault(_pixels(image), split)
                assert owner == split, f"{case.case_id}: image also used in {owner}"


def test_pixel_duplicates_across_splits_are_dropped(medmnist_npz_root, tmp_path):
    root = tmp_path / "dup"
    shutil.copytree(medmnist_npz_root, root)
    with np.load(root / "breastmnist.npz") as npz:
        arrays = dict(npz)
    arrays["train_images"][:5] = arrays["test_images"][:5]
    np.savez_compressed(root / "breastmnist.npz", **arrays)
    out = build_benchmark(root, tmp_path / "out", scale="small", progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["train"]["duplicate_images_dropped"] == 5
    hidden = {_pixels(im) for c in load_benchmark(out, "hidden").cases for im in c.images}
    train = {_pixels(im) for c in load_benchmark(out, "train").cases for im in c.images}
    assert not hidden & train


def test_frame_counts_and_rgb_28x28_images(splits):
    for loaded in splits.values():
        for case in loaded.cases:
            if case.task == "understanding":
                assert len(case.images) == 1
            else:
                assert 2 <= len(case.images) <= 4
            assert len(case.rephrase_images) == len(case.images)
            assert all(im.mode == "RGB" and im.size == (28, 28) for im in case.images)


def test_options_targets_and_rephrases(splits):
    for loaded in splits.values():
        for case in loaded.cases:
            assert 2 <= len(case.options) <= 8
            assert list(case.options) == [chr(ord("A") + i) for i in range(len(case.options))]
            assert case.target == case.answer and case.answer in case.options
            assert case.rephrase_question != case.question
            edit = {_pixels(im) for im in case.images}
            assert not edit & {_pixels(im) for im in case.rephrase_images}
            assert not edit & {_pixels(im) for im in case.m_loc_images}
            assert not edit & {_pixels(im) for im in case.mc_loc_images}


def test_rephrases_move_the_correct_option_to_another_letter(splits):
    for loaded in splits.values():
        for case in loaded.cases:
            correct = case.options[case.answer]
            assert sorted(case.rephrase_options.values()) == sorted(case.options.values())
            assert case.rephrase_options[case.rephrase_target] == correct
            assert case.rephrase_target != case.target


def test_multiple_choice_locality_is_a_valid_unrelated_question(splits):
    for loaded in splits.values():
        for case in loaded.cases:
            assert case.mc_loc_answer in case.mc_loc_options
            assert case.mc_loc_question and len(case.mc_loc_images) == 1
            spec = json.loads(case.question_spec)["mc_loc"]
            edit_flags = {f["flag"] for f in json.loads(case.question_spec)["frames"]}
            assert spec["flag"] not in edit_flags or spec["question_type"] != case.question_type


def test_tiers_are_interleaved_so_that_any_prefix_holds_both(splits):
    for loaded in splits.values():
        tasks = [c.task for c in loaded.cases]
        assert tasks[:2] in (["understanding", "reasoning"], ["reasoning", "understanding"])


def _labels_by_pixels(root: Path) -> dict[bytes, str]:
    """Every fixture image's pixel digest -> "flag:label name", read back from the .npz files."""
    table = {}
    for flag in DEFAULT_FLAGS:
        names = subset(flag).labels
        with np.load(root / f"{flag}.npz") as npz:
            for split in ("train", "val", "test"):
                for image, label in zip(
                    npz[f"{split}_images"], npz[f"{split}_labels"][:, 0], strict=True
                ):
                    rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
                    table[hashlib.sha256(rgb.tobytes()).digest()] = f"{flag}:{names[label]}"
    return table


def test_recorded_labels_are_the_images_labels(medmnist_npz_root, splits):
    truth = _labels_by_pixels(medmnist_npz_root)
    for loaded in splits.values():
        for case in loaded.cases:
            spec = json.loads(case.question_spec)
            recorded = [f"{f['flag']}:{f['label']}" for f in spec["frames"]]
            assert [truth[_pixels(im)] for im in case.images] == recorded
            assert [truth[_pixels(im)] for im in case.rephrase_images] == recorded
            assert case.source == "|".join(recorded)
            m_loc = spec["m_loc"]
            assert truth[_pixels(case.m_loc_images[0])] == f"{m_loc['flag']}:{m_loc['label']}"


def test_every_reasoning_case_needs_several_frames(splits):
    reasoning = [c for s in splits.values() for c in s.cases if c.task == "reasoning"]
    assert len(reasoning) >= 30
    for case in reasoning:
        check_needs_several_frames(case)


def test_multimodal_locality_comes_from_another_subset_or_question(splits):
    for case in splits["hidden"].cases:
        spec = json.loads(case.question_spec)
        edit_flags = {frame["flag"] for frame in spec["frames"]}
        m_loc = spec["m_loc"]
        assert m_loc["flag"] not in edit_flags or m_loc["question_type"] != case.question_type
        assert case.m_loc_answer and case.m_loc_question


def test_datasets_loads_the_folder(tiny_benchmark_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    public = datasets.load_dataset(str(tiny_benchmark_dir), split="public", cache_dir=tmp_path)
    assert public.num_rows == len(load_benchmark(tiny_benchmark_dir, "public"))
    assert public[0]["images"][0].size == (28, 28)


def test_card_names_licences_and_citations(tiny_benchmark_dir):
    card = (tiny_benchmark_dir / "README.md").read_text()
    assert "license: cc-by-4.0" in card and "CC BY 4.0" in card
    assert "MedMNIST v2" in card and "DeepDRiD" in card and "LiTS" in card
    manifest = json.loads((tiny_benchmark_dir / "manifest.json").read_text())
    assert manifest["splits"]["hidden"]["sha256"] in card


def test_the_builder_uses_only_the_subsets_it_is_given(medmnist_npz_root, tmp_path):
    flags = ["organamnist", "pneumoniamnist"]
    out = build_benchmark(medmnist_npz_root, tmp_path / "two", flags=flags, scale="small")
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["flag"] for s in manifest["sources"]] == sorted(flags)
    for case in load_benchmark(out, "public").cases:
        spec = json.loads(case.question_spec)
        assert {f["flag"] for f in spec["frames"]} | {spec["m_loc"]["flag"]} <= set(flags)
        if case.task == "reasoning":
            check_needs_several_frames(case)
    assert "compare_grade" not in manifest["splits"]["train"]["by_question_type"]["reasoning"]


def test_a_dermamnist_build_is_marked_non_commercial(tmp_path):
    from tests.fixtures.benchmark import write_tiny_npz

    root = tmp_path / "npz"
    root.mkdir()
    write_tiny_npz(root, "dermamnist", seed=7)
    write_tiny_npz(root, "pneumoniamnist", seed=8)
    out = build_benchmark(
        root, tmp_path / "o", flags=["dermamnist", "pneumoniamnist"], scale="small", progress=False
    )
    card = (out / "README.md").read_text()
    assert "license: cc-by-nc-4.0" in card and "may not be used commercially" in card
    assert "HAM10000" in card
    assert len(load_benchmark(out, "hidden")) == 20
