"""`python -m evaluator benchmark build|info`: build MultiMedEdit-mini, or summarise a build."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from contract import paths
from contract.names import SPLITS, TASKS
from contract.paths import MANIFEST
from evaluator.benchmark.builder import SCALES
from evaluator.benchmark.sources import MedMNISTSourceError
from evaluator.benchmark.vocab import DEFAULT_FLAGS


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    commands = parser.add_subparsers(dest="action", required=True)
    build = commands.add_parser("build", help="build the three splits, manifest and card")
    build.add_argument(
        "--medmnist-root",
        type=Path,
        default=paths.medmnist_root(),
        help="folder with <flag>.npz files (default: $MME_MEDMNIST_ROOT, ../shared/data/medmnist)",
    )
    build.add_argument(
        "--out",
        type=Path,
        default=paths.benchmark_dir(),
        help="output folder (default: %(default)s)",
    )
    build.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    build.add_argument("--scale", choices=sorted(SCALES), default="default")
    build.add_argument(
        "--flags",
        default=",".join(DEFAULT_FLAGS),
        help="comma-separated MedMNIST subsets to use (default: %(default)s)",
    )
    build.add_argument(
        "--download",
        action="store_true",
        help="fetch missing .npz files from MedMNIST's Zenodo record (checks MD5)",
    )
    build.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    info = commands.add_parser("info", help="print the manifest summary of a built benchmark")
    info.add_argument("dir", type=Path, help="a folder written by `build`")
    return parser


def summary(manifest: dict) -> str:
    """Counts per split, task and question type, and the split hashes, as plain text."""
    lines = [
        f"{manifest['name']} {manifest['version']} (seed {manifest['seed']}, "
        f"scale {manifest.get('scale', '?')})"
    ]
    for split in SPLITS:
        entry = manifest["splits"][split]
        tasks = ", ".join(f"{t} {entry['by_task'][t]}" for t in TASKS)
        lines.append(f"{split}: {entry['cases']} cases ({tasks}) sha256 {entry['sha256']}")
        for task in TASKS:
            types = ", ".join(f"{q} {n}" for q, n in entry["by_question_type"][task].items())
            lines.append(f"  {task}: {types}")
    sources = ", ".join(f"{s['flag']} ({s['licence']})" for s in manifest["sources"])
    lines.append(f"sources: {sources}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if args.action == "info":
        manifest_path = args.dir / MANIFEST
        if not manifest_path.is_file():
            print(f"no manifest.json in {args.dir}: build it first", file=sys.stderr)
            return 2
        print(summary(json.loads(manifest_path.read_text("utf-8"))))
        return 0
    from evaluator.benchmark.builder import build_benchmark

    flags = [f.strip() for f in args.flags.split(",") if f.strip()]
    start = time.perf_counter()
    try:
        out = build_benchmark(
            args.medmnist_root,
            args.out,
            seed=args.seed,
            scale=args.scale,
            progress=not args.no_progress,
            flags=flags,
            download=args.download,
        )
    except (MedMNISTSourceError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    print(summary(json.loads((out / MANIFEST).read_text("utf-8"))))
    print(f"built {out} in {elapsed:.1f} s")
    return 0
