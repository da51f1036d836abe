"""Loading validates every row; each broken rule names the first bad case and field."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from evaluator.benchmark import BenchmarkLoadError, CaseValidationError, load_benchmark
from evaluator.benchmark.features import IMAGE_FIELDS
from evaluator.benchmark.loader import _decode_image
from evaluator.benchmark.validation import check_columns, rows_to_cases


@pytest.fixture(scope="module")
def rows(tiny_benchmark_dir: Path) -> list[dict]:
    """The public split's rows as `datasets` would give them (images decoded)."""
    table = pq.read_table(tiny_benchmark_dir / "public" / "data-00000-of-00001.parquet")
    out = table.to_pylist()
    for row in out:
        for name in IMAGE_FIELDS:
            row[name] = [_decode_image(v) for v in row[name]]
    return out


def _first(rows: list[dict], task: str) -> int:
    return next(i for i, r in enumerate(rows) if r["task"] == task)


def _broken(rows, task, change) -> tuple[list[dict], str]:
    broken = [dict(r) for r in rows]
    index = _first(rows, task)
    broken[index] = copy.copy(rows[index])
    change(broken[index])
    return broken, rows[index]["case_id"]


def _set(field, value):
    return lambda row: row.__setitem__(field, value)


def _drop(field):
    return lambda row: row.pop(field)


CASES = {
    "missing field": ("understanding", _drop("loc_answer"), "loc_answer", "missing field"),
    "unknown task": ("understanding", _set("task", "recall"), "task", "not one of"),
    "target not an option": ("understanding", _set("target", "Z"), "target", "not among"),
    "answer not an option": ("reasoning", _set("answer", "H"), "answer", "not among"),
    "reasoning with one frame": (
        "reasoning",
        lambda r: r.__setitem__("images", r["images"][:1]),
        "images",
        "needs 2-4",
    ),
    "understanding with two images": (
        "understanding",
        lambda r: r.__setitem__("images", r["images"] * 2),
        "images",
        "needs 1",
    ),
    "rephrase image count differs": (
        "reasoning",
        lambda r: r.__setitem__("rephrase_images", r["rephrase_images"][:-1]),
        "rephrase_images",
        "images for",
    ),
    "letters out of order": (
        "understanding",
        lambda r: r.__setitem__("options", list(reversed(r["options"]))),
        "options",
        "in order",
    ),
    "one option only": (
        "understanding",
        lambda r: r.__setitem__("options", r["options"][:1]),
        "options",
        "needs 2 to 8",
    ),
    "repeated option text": (
        "understanding",
        lambda r: r.__setitem__("options", [{**o, "text": "same"} for o in r["options"]]),
        "options",
        "repeat",
    ),
    "rephrase equals question": (
        "understanding",
        lambda r: r.__setitem__("rephrase_question", r["question"]),
        "rephrase_question",
        "same text",
    ),
    "empty question": ("reasoning", _set("question", " "), "question", "non-empty"),
    "no m_loc image": ("understanding", _set("m_loc_images", []), "m_loc_images", "at least one"),
    "images not images": ("understanding", _set("images", ["a.png"]), "images", "list of images"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_broken_row_names_its_case_and_field(rows, name):
    task, change, field, words = CASES[name]
    broken, case_id = _broken(rows, task, change)
    with pytest.raises(CaseValidationError) as info:
        rows_to_cases(broken)
    assert (info.value.case_id, info.value.field) == (case_id, field)
    assert case_id in str(info.value) and words in str(info.value)


def test_valid_rows_pass(rows):
    cases = rows_to_cases(rows)
    assert [c.case_id for c in cases] == [r["case_id"] for r in rows]


def test_duplicate_case_ids_are_refused(rows):
    twice = [rows[0], dict(rows[1], case_id=rows[0]["case_id"])]
    with pytest.raises(CaseValidationError, match="appears twice"):
        rows_to_cases(twice)


def test_a_missing_column_names_the_first_case(rows):
    columns = [c for c in rows[0] if c != "m_loc_question"]
    with pytest.raises(CaseValidationError) as info:
        check_columns(columns, rows[0]["case_id"])
    assert (info.value.case_id, info.value.field) == (rows[0]["case_id"], "m_loc_question")


def _copy_with_table(src: Path, dst: Path, split: str, change) -> Path:
    shutil.copytree(src, dst)
    path = dst / split / "data-00000-of-00001.parquet"
    pq.write_table(change(pq.read_table(path)), path)
    return dst


def test_load_refuses_a_folder_missing_a_column(tiny_benchmark_dir, tmp_path):
    folder = _copy_with_table(
        tiny_benchmark_dir, tmp_path / "b", "public", lambda t: t.drop_columns(["target"])
    )
    first = pq.read_table(folder / "public" / "data-00000-of-00001.parquet")["case_id"][0]
    with pytest.raises(CaseValidationError, match=f"case '{first}', field 'target'"):
        load_benchmark(folder, "public")


def test_load_refuses_files_changed_after_the_build(tiny_benchmark_dir, tmp_path):
    folder = _copy_with_table(tiny_benchmark_dir, tmp_path / "b", "hidden", lambda t: t.slice(1))
    with pytest.raises(BenchmarkLoadError, match="changed after the build"):
        load_benchmark(folder, "hidden")


def test_a_folder_without_manifest_gets_a_computed_hash(tiny_benchmark_dir, tmp_path):
    folder = tmp_path / "plain"
    shutil.copytree(tiny_benchmark_dir / "public", folder / "public")
    loaded = load_benchmark(folder, "public")
    manifest = json.loads((tiny_benchmark_dir / "manifest.json").read_text())
    assert loaded.sha256 == manifest["splits"]["public"]["sha256"]
    assert loaded.name == "plain"


def test_unknown_split_and_missing_folder(tiny_benchmark_dir, tmp_path):
    with pytest.raises(BenchmarkLoadError, match="unknown split 'test'"):
        load_benchmark(tiny_benchmark_dir, "test")
    with pytest.raises(BenchmarkLoadError, match="does not exist"):
        load_benchmark(str(tmp_path / "nowhere"), "public")


def test_hub_id_while_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BenchmarkLoadError, match="HF_HUB_OFFLINE") as info:
        load_benchmark("someone/multimededit", "hidden", revision="main")
    assert "someone/multimededit" in str(info.value)


def test_hub_dataset_without_manifest_is_validated_and_hashed(tiny_benchmark_dir, monkeypatch):
    import datasets
    import huggingface_hub

    parquet = str(tiny_benchmark_dir / "public" / "data-00000-of-00001.parquet")
    local = datasets.Dataset.from_parquet(parquet, keep_in_memory=True)
    calls = []

    def fake_load_dataset(hub_id, split, revision):
        calls.append((hub_id, split, revision))
        return local

    def no_manifest(*args, **kwargs):
        raise FileNotFoundError("manifest.json")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_manifest)
    loaded = load_benchmark("someone/multimededit", "public", revision="abc123")
    assert calls == [("someone/multimededit", "public", "abc123")]
    assert (loaded.name, loaded.version) == ("someone/multimededit", "abc123")
    assert loaded.sha256 == load_benchmark(tiny_benchmark_dir, "public").sha256
