"""Build MultiMedEdit-mini from MedMNIST .npz files: three splits as parquet, a manifest and a
dataset card. Same inputs and seed give byte-identical files."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from contract.names import SPLITS, TASKS
from contract.paths import MANIFEST
from evaluator.benchmark.card import dataset_card
from evaluator.benchmark.case import Case
from evaluator.benchmark.features import FEATURES, IMAGE_FIELDS, OPTION_FIELDS, canonical_sha256
from evaluator.benchmark.generate import CaseFactory
from evaluator.benchmark.pool import SplitPool, build_pools
from evaluator.benchmark.release import NAME, VERSION
from evaluator.benchmark.sources import read_npz
from evaluator.benchmark.vocab import DEFAULT_FLAGS, subset

PARQUET_NAME = "data-00000-of-00001.parquet"

# benchmark split <- MedMNIST split, in de-duplication priority (hidden keeps its images first)
SPLIT_SOURCES = (("hidden", "test"), ("public", "val"), ("train", "train"))

# scale -> split -> (understanding cases, reasoning cases). The edit set is the cases a model
# gets wrong, so the default public split gives each zoo model 200+ errors per tier and the
# hidden split 1,000+ errors (lifelong editing up to T = 1,000); docs/benchmark.md has counts.
SCALES: dict[str, dict[str, tuple[int, int]]] = {
    "default": {"train": (2000, 2000), "public": (1200, 500), "hidden": (2400, 1200)},
    "quick": {"train": (600, 600), "public": (120, 60), "hidden": (120, 60)},
    "small": {"train": (12, 12), "public": (10, 10), "hidden": (10, 10)},
}


def _row(case: Case, pool: SplitPool) -> dict:
    row = {name: getattr(case, name) for name in FEATURES if name not in IMAGE_FIELDS}
    for name in OPTION_FIELDS:
        row[name] = [{"letter": k, "text": v} for k, v in getattr(case, name).items()]
    for name in IMAGE_FIELDS:
        row[name] = [
            {"bytes": pool.png(pool.key_of(im)), "path": None} for im in getattr(case, name)
        ]
    return row


def _write_split(rows: list[dict], folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    table = pa.Table.from_pylist(rows, schema=FEATURES.arrow_schema)
    path = folder / PARQUET_NAME
    pq.write_table(table, path, compression="zstd", row_group_size=512)
    return path


def interleaved_tasks(n_understanding: int, n_reasoning: int) -> list[str]:
    """Both tiers spread evenly over the split, so any prefix holds them in proportion."""
    total = n_understanding + n_reasoning
    return [
        "understanding"
        if (i + 1) * n_understanding // total > i * n_understanding // total
        else "reasoning"
        for i in range(total)
    ]


def _counts(cases: Sequence[Case]) -> dict:
    by_task = Counter(c.task for c in cases)
    by_type: dict[str, Counter] = {t: Counter() for t in TASKS}
    for c in cases:
        by_type[c.task][c.question_type] += 1
    return {
        "cases": len(cases),
        "by_task": {t: by_task[t] for t in TASKS},
        "by_question_type": {t: dict(sorted(by_type[t].items())) for t in TASKS},
    }


def build_benchmark(
    medmnist_root: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    scale: str = "default",
    progress: bool = True,
    flags: Sequence[str] = DEFAULT_FLAGS,
    download: bool = False,
) -> Path:
    """Write train/, public/, hidden/ (parquet), manifest.json and README.md under `out`."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: use one of {', '.join(SCALES)}")
    root, out = Path(medmnist_root), Path(out)
    sources = {flag: read_npz(flag, root, download=download) for flag in sorted(set(flags))}
    pools, dropped = build_pools(sources, SPLIT_SOURCES)
    sizes = SCALES[scale]
    total = sum(sum(sizes[s]) for s in SPLITS)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    split_entries = {}
    with tqdm(total=total, desc="building cases", unit="case", disable=not progress) as bar:
        for number, split in enumerate(SPLITS):
            pool = pools[split]
            factory = CaseFactory(pool, np.random.default_rng([seed, number]), split)
            cases: list[Case] = []
            tasks = interleaved_tasks(*sizes[split])
            for index, task in enumerate(tasks):
                case, _ = factory.draw(task, f"{NAME}-{split}-{index:05d}")
                cases.append(case)
                bar.update()
            path = _write_split([_row(c, pool) for c in cases], out / split)
            split_entries[split] = {
                "path": path.relative_to(out).as_posix(),
                "medmnist_split": dict(SPLIT_SOURCES)[split],
                "sha256": canonical_sha256(cases),
                **_counts(cases),
                "pool_images": pool.image_count(),
                "duplicate_images_dropped": dropped[split],
            }
    manifest = {
        "name": NAME,
        "version": VERSION,
        "seed": seed,
        "scale": scale,
        "splits": split_entries,
        "sources": [
            {
                "flag": flag,
                "file": src.path.name,
                "sha256": src.sha256,
                "licence": subset(flag).licence,
                "images": {s: int(len(src.labels[s])) for s in ("train", "val", "test")},
            }
            for flag, src in sorted(sources.items())
        ],
    }
    (out / "README.md").write_text(dataset_card(manifest), encoding="utf-8")
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out
