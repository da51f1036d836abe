"""Load a benchmark split, from a folder the builder wrote or from a hub dataset, validated."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import PIL.Image
import pyarrow as pa
import pyarrow.parquet as pq

from contract.names import SPLITS
from contract.paths import MANIFEST
from evaluator.benchmark.case import BenchmarkSplit, Case
from evaluator.benchmark.split_content import IMAGE_FIELDS, canonical_sha256
from evaluator.benchmark.validation import check_columns, rows_to_cases

if TYPE_CHECKING:
    import datasets

TRUE_VALUES = {"1", "ON", "YES", "TRUE"}


class BenchmarkLoadError(RuntimeError):
    """The benchmark or split cannot be found or read."""


def _hub_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.upper() in TRUE_VALUES
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.count("/") != 1 or Path(text).exists()


def _cases_from(dataset: datasets.Dataset, where: str) -> tuple[Case, ...]:
    first = dataset[0]["case_id"] if len(dataset) and "case_id" in dataset.column_names else where
    check_columns(dataset.column_names, str(first))
    return rows_to_cases(dataset)


def _decode_image(value: object) -> object:
    """An Image-feature cell ({bytes, path}) as a loaded PIL image; other values pass through."""
    if isinstance(value, dict) and ("bytes" in value or "path" in value):
        source = io.BytesIO(value["bytes"]) if value.get("bytes") is not None else value["path"]
        image = PIL.Image.open(source)
        image.load()
        return image
    return value


def _cases_from_table(table: pa.Table, where: str) -> tuple[Case, ...]:
    """Rows straight from arrow with images decoded by PIL: ~5x faster than row iteration."""
    check_columns(table.column_names, str(table.column("case_id")[0]) if len(table) else where)
    rows = table.to_pylist()
    for row in rows:
        for name in IMAGE_FIELDS:
            if isinstance(row.get(name), list):
                row[name] = [_decode_image(v) for v in row[name]]
    return rows_to_cases(rows)


def _load_local(folder: Path, split: str) -> BenchmarkSplit:
    manifest_path = folder / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text("utf-8"))
        entry = manifest.get("splits", {}).get(split)
        if entry is None:
            raise BenchmarkLoadError(
                f"{manifest_path} lists splits {sorted(manifest.get('splits', {}))}, not {split!r}"
            )
        files = [folder / entry["path"]]
        name, version, expected = manifest["name"], manifest["version"], entry["sha256"]
    else:
        files = sorted((folder / split).glob("*.parquet"))
        name, version, expected = folder.name, "unversioned", None
    missing = [str(f) for f in files if not f.is_file()]
    if not files or missing:
        raise BenchmarkLoadError(
            f"no parquet file for split {split!r} in {folder} ({', '.join(missing) or 'none'}); "
            "build it with `python -m evaluator benchmark build --out DIR`"
        )
    table = pa.concat_tables([pq.read_table(f) for f in files])
    cases = _cases_from_table(table, f"{folder}/{split}")
    sha256 = canonical_sha256(cases)
    if expected is not None and sha256 != expected:
        raise BenchmarkLoadError(
            f"split {split!r} in {folder} hashes to {sha256}, but manifest.json says {expected}: "
            "its files changed after the build; rebuild the benchmark"
        )
    return BenchmarkSplit(name=name, version=version, split=split, sha256=sha256, cases=cases)


def _load_hub(hub_id: str, split: str, revision: str | None) -> BenchmarkSplit:
    if _hub_offline():
        raise BenchmarkLoadError(
            f"cannot load hub dataset {hub_id!r}: HF_HUB_OFFLINE is set, so the hub cannot be "
            "reached. Unset HF_HUB_OFFLINE, or pass a local folder built by "
            "`python -m evaluator benchmark build`"
        )
    import datasets

    try:
        dataset = datasets.load_dataset(hub_id, split=split, revision=revision)
    except Exception as exc:
        raise BenchmarkLoadError(
            f"could not load split {split!r} of hub dataset {hub_id!r} "
            f"(revision {revision or 'default'}): {exc}"
        ) from exc
    cases = _cases_from(dataset, f"{hub_id}/{split}")
    name, version, sha256 = hub_id, revision or "main", None
    try:
        from huggingface_hub import hf_hub_download

        manifest_file = hf_hub_download(hub_id, MANIFEST, repo_type="dataset", revision=revision)
        manifest = json.loads(Path(manifest_file).read_text("utf-8"))
        name, version = manifest["name"], manifest["version"]
        sha256 = manifest["splits"][split]["sha256"]
    except Exception:
        sha256 = None
    actual = canonical_sha256(cases)
    if sha256 is not None and sha256 != actual:
        raise BenchmarkLoadError(
            f"hub dataset {hub_id!r} split {split!r} hashes to {actual}, but its manifest says "
            f"{sha256}; the data and manifest disagree"
        )
    return BenchmarkSplit(name=name, version=version, split=split, sha256=actual, cases=cases)


def load_benchmark(
    path_or_hub_id: str | os.PathLike, split: str, revision: str | None = None
) -> BenchmarkSplit:
    """Every row validated (errors name the first bad case and field); `revision` is for hub ids."""
    if split not in SPLITS:
        raise BenchmarkLoadError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    text = os.fspath(path_or_hub_id)
    path = Path(text).expanduser()
    if path.is_dir():
        return _load_local(path, split)
    if _looks_like_path(text):
        raise BenchmarkLoadError(
            f"benchmark folder {text!r} does not exist; build it with "
            "`python -m evaluator benchmark build --out DIR`, or pass a hub id 'owner/name'"
        )
    return _load_hub(text, split, revision)
