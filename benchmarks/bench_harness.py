"""How much of an evaluation is the editor's own work, and how much is the harness.

Not a test. For each editor, on a zoo model and the first N public cases, prints seconds per
case, seconds per edit, scoring seconds per case and the share of wall time spent outside
`editor.apply` (scoring, snapshot restore, checks). The untouched reference pass is run once
up front and reported on its own line, as a second setting on the same model would reuse it.

    .venv/bin/python -m benchmarks.bench_harness --cases 10 [--editors ike ft] [--setting single]
"""

from __future__ import annotations

import argparse
import time

from contract import paths
from contract.names import SETTINGS
from evaluator.benchmark import load_benchmark
from evaluator.editors.registry import editor_names
from evaluator.efficiency import PeakMemory
from evaluator.models import load_vlm
from evaluator.protocols import RunStats, reference_scores
from evaluator.run import RunSpec, evaluate


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(paths.zoo_dir("llava-onevision")))
    parser.add_argument("--benchmark", default=str(paths.benchmark_dir()))
    parser.add_argument("--cases", type=int, default=10, help="first N public cases")
    parser.add_argument("--editors", nargs="*", default=None, help="default: every editor")
    parser.add_argument("--setting", choices=SETTINGS, default="single")
    parser.add_argument("--device", default=None, help="default: cuda if present, else cpu")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    adapter = load_vlm(args.model, device=args.device)
    split = load_benchmark(args.benchmark, "public")
    cases = split.cases[: args.cases]
    warm = RunStats(memory=PeakMemory(adapter.device))
    started = time.perf_counter()
    reference_scores(adapter, split.sha256, cases, batch_size=16, stats=warm)
    reference_s = time.perf_counter() - started
    print(f"model {args.model} ({adapter.family}, {adapter.num_layers} layers, {adapter.device})")
    print(f"{len(cases)} public cases, setting {args.setting}")
    print(f"untouched reference pass: {reference_s / len(cases):.3f} s/case (once per model+split)")
    header = f"{'editor':<8} {'s/case':>8} {'s/edit':>8} {'score s/case':>13} {'outside edit':>13}"
    print(header)
    for name in args.editors or editor_names():
        spec = RunSpec(
            model=args.model,
            revision=None,
            editor=name,
            config=None,
            benchmark=args.benchmark,
            split="public",
            setting=args.setting,
            limit=len(cases),
        )
        started = time.perf_counter()
        stats = evaluate(spec, adapter=adapter, split_data=split).stats
        wall = time.perf_counter() - started
        edit = sum(stats.edit_seconds)
        print(
            f"{name:<8} {wall / len(cases):>8.3f} {edit / len(stats.edit_seconds):>8.3f} "
            f"{sum(stats.scoring_seconds) / len(cases):>13.3f} {1 - edit / wall:>12.1%}"
        )


if __name__ == "__main__":
    main()
