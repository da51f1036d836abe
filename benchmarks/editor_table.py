"""The editor table of docs/editors.md: every editor, both settings, on one model.

Not a test. Runs `evaluate` (the same path as `python -m evaluator run` and the worker) for
each editor and setting on the public split with at most N edits of each tier, writes each
result JSON under --out, and prints one markdown row per run. One model per process: run one
process per zoo model side by side.

    .venv/bin/python -m benchmarks.editor_table --model data/models/mme-tiny-llava-onevision \\
        --per-tier 200 --out artifacts/editor-table
    .venv/bin/python -m benchmarks.editor_table --planted --editors planted-noop \\
        planted-letter-bias planted-perturb --per-tier 200 --out artifacts/planted
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from contract import paths
from contract.names import SETTINGS
from evaluator.benchmark import load_benchmark
from evaluator.editors.registry import editor_names, registered
from evaluator.models import load_vlm
from evaluator.result import write_result
from evaluator.run import RunSpec, run_evaluation

HEADER = (
    "| model | editor | setting | edits (U/R) | score | rel | gen (text / image) | "
    "loc (text / image / MC) | s/edit mean (p95) | wall s | peak MB |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(paths.zoo_dir("llava-onevision")))
    parser.add_argument("--benchmark", default=str(paths.benchmark_dir()))
    parser.add_argument("--per-tier", type=int, default=200, help="edits of each tier")
    parser.add_argument("--editors", nargs="*", default=None, help="default: every editor")
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--out", type=Path, required=True, help="folder for the result JSONs")
    parser.add_argument(
        "--planted",
        action="store_true",
        help="register the planted editors of tests/planted_editors.py for this run, so "
        "--editors can name them (planted-noop, planted-letter-bias, planted-perturb, ...)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse a run's result JSON already under --out instead of running it again",
    )
    return parser.parse_args()


def _mean(result: dict, metric: str) -> str:
    return f"{result['metrics']['overall'][metric]['mean']:.3f}"


def table_row(result: dict) -> str:
    """One markdown row of the editor table from a result record."""
    edits = result["benchmark"]["edits"]
    latency = result["efficiency"]["edit_latency_s"]
    gen = " / ".join(_mean(result, m) for m in ("generality_text", "generality_image"))
    loc = " / ".join(_mean(result, m) for m in ("locality_text", "locality_image", "locality_mc"))
    return (
        f"| {Path(result['model']['id']).name} | {result['editor']['name']} | "
        f"{result['setting']} | {edits['understanding']}/{edits['reasoning']} | "
        f"{_mean(result, 'score')} | {_mean(result, 'reliability')} | "
        f"{_mean(result, 'generality')} ({gen}) | {_mean(result, 'locality')} ({loc}) | "
        f"{latency['mean']:.3f} ({latency['p95']:.3f}) | {result['efficiency']['wall_s']:.0f} | "
        f"{result['efficiency']['peak_memory_mb']:.0f} |"
    )


def main() -> None:
    args = parse_args()
    if not args.planted:
        run_table(args)
        return
    from tests.planted_editors import PLANTED

    with registered(*PLANTED):
        run_table(args)


def run_table(args: argparse.Namespace) -> None:
    """Run (or, with --resume, reuse) each editor and setting and print the table's rows."""
    adapter = load_vlm(args.model)
    split = load_benchmark(args.benchmark, "public")
    args.out.mkdir(parents=True, exist_ok=True)
    print(HEADER, flush=True)
    for editor in args.editors or editor_names():
        for setting in args.settings:
            out = args.out / f"{Path(args.model).name}-{editor}-{setting}.json"
            if args.resume and out.exists():
                result = json.loads(out.read_text())
                print(table_row(result), flush=True)
                continue
            spec = RunSpec(
                model=args.model,
                revision=None,
                editor=editor,
                config=None,
                benchmark=args.benchmark,
                split="public",
                setting=setting,
                per_tier=args.per_tier,
            )
            with tqdm(desc=f"{editor} {setting}", unit="edit", file=sys.stderr) as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                result = run_evaluation(spec, adapter=adapter, split_data=split, progress=progress)
            write_result(result, out)
            print(table_row(result), flush=True)
    summary = {"model": args.model, "pre_edit": result["pre_edit"]}
    print(json.dumps(summary), file=sys.stderr)


if __name__ == "__main__":
    main()
