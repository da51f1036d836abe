"""Seconds per edit with the frozen-prefix cache off and on (evaluator.models.frozen_prefix).

Not a test. For each editor and setting, on a zoo model and N public edits of each tier, runs
the evaluation twice, the cache off then on, interleaved over `--rounds` rounds so that both see
the same machine, and prints the mean seconds per edit (the result's efficiency.edit_latency_s),
seconds per case (wall / cases), the speed-up, and whether every published metric is identical
(the cache must not change a number). The untouched reference pass is shared by all runs.

    .venv/bin/python -m benchmarks.bench_edit_speed --per-tier 10 [--editors ft grace wise]
        [--settings single lifelong] [--rounds 2] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field, replace

from contract import paths
from contract.names import SETTINGS
from evaluator.benchmark import load_benchmark
from evaluator.models import load_vlm
from evaluator.run import RunSpec, run_evaluation

EDITORS = ("ft", "grace", "wise", "memoir")


@dataclass
class Timing:
    """The runs of one editor, setting and cache state."""

    per_edit: list[float] = field(default_factory=list)
    per_case: list[float] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(paths.zoo_dir("llava-onevision")))
    parser.add_argument("--benchmark", default=str(paths.benchmark_dir()))
    parser.add_argument("--per-tier", type=int, default=10, help="edits of each tier")
    parser.add_argument("--editors", nargs="*", default=list(EDITORS))
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs per editor")
    parser.add_argument("--device", default=None, help="default: cuda if present, else cpu")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    adapter = load_vlm(args.model, device=args.device)
    split = load_benchmark(args.benchmark, "public")
    print(f"model {args.model} ({adapter.family}, {adapter.num_layers} layers, {adapter.device})")
    print(f"{args.per_tier} public edits of each tier, {args.rounds} round(s) per cache state\n")
    print(f"{'editor':<8} {'setting':<9} {'s/edit off':>10} {'s/edit on':>10} {'speed-up':>9} "
          f"{'s/case off':>10} {'s/case on':>10}  metrics")  # fmt: skip
    for editor in args.editors:
        for setting in args.settings:
            spec = RunSpec(
                model=args.model, revision=None, editor=editor, config=None,
                benchmark=args.benchmark, split="public", setting=setting,
                per_tier=args.per_tier,
            )  # fmt: skip
            # the untouched reference pass of these cases, before any timed run (all reuse it)
            run_evaluation(replace(spec, editor="ike"), adapter=adapter, split_data=split)
            timings = {False: Timing(), True: Timing()}
            for _ in range(args.rounds):
                for cached in (False, True):
                    adapter.prefix_cache = cached
                    result = run_evaluation(spec, adapter=adapter, split_data=split)
                    timing = timings[cached]
                    timing.per_edit.append(result["efficiency"]["edit_latency_s"]["mean"])
                    cases = sum(result["benchmark"]["edits"].values())
                    timing.per_case.append(result["efficiency"]["wall_s"] / cases)
                    timing.metrics.append(result["metrics"])
            adapter.prefix_cache = True
            print_row(editor, setting, timings)


def print_row(editor: str, setting: str, timings: dict[bool, Timing]) -> None:
    off, on = timings[False], timings[True]
    edit_off, edit_on = statistics.mean(off.per_edit), statistics.mean(on.per_edit)
    same = all(m == off.metrics[0] for m in [*off.metrics, *on.metrics])
    print(f"{editor:<8} {setting:<9} {edit_off:10.3f} {edit_on:10.3f} {edit_off / edit_on:8.2f}x "
          f"{statistics.mean(off.per_case):10.3f} {statistics.mean(on.per_case):10.3f}  "
          f"{'identical' if same else 'DIFFER'}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
